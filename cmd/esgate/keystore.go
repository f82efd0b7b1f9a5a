package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"github.com/esgate/esgate/configs"
	"github.com/esgate/esgate/configs/keystore"
)

// keystorePassEnv names the environment variable with the keystore password.
const keystorePassEnv = "ESGATE_KEYSTORE_PASS"

// defaultKeystore is esgate.keystore beside the config file (or in the
// working directory without one).
func defaultKeystore(configFile string) string {
	if configFile == "" {
		return "esgate.keystore"
	}
	return filepath.Join(filepath.Dir(configFile), "esgate.keystore")
}

// secretLookup resolves ${NAME} from the keystore first, then the
// environment, as Logstash does. An explicit --keystore must exist; the
// default one is used only if present.
func secretLookup(fl *configs.Flags) (func(string) (string, bool), error) {
	path, explicit := fl.Keystore, fl.Keystore != ""
	if !explicit {
		path = defaultKeystore(fl.ConfigFile)
	}
	if !keystore.Exists(path) {
		if explicit {
			return nil, fmt.Errorf("--keystore: %s does not exist (create it with: esgate keystore create --keystore %s)", path, path)
		}
		return os.LookupEnv, nil
	}
	ks, err := keystore.Open(path, []byte(os.Getenv(keystorePassEnv)))
	if err != nil {
		return nil, err
	}
	return func(name string) (string, bool) {
		if v, ok := ks.Get(name); ok {
			return v, true
		}
		return os.LookupEnv(name)
	}, nil
}

// keystoreDetail is the keystore commands, for its help.
const keystoreDetail = `  create [--unprotected]   create an empty keystore (password from ESGATE_KEYSTORE_PASS or a prompt)
  add NAME [--force]       add a value, read from stdin or a hidden prompt (never from the command line)
  list                     list the names
  show NAME                print a value
  remove NAME              remove a value

Config values ${NAME} resolve from the keystore first, then the environment.
`

// keystoreFlags are the keystore commands' flags.
type keystoreFlags struct {
	path        string
	unprotected bool
	force       bool
}

func (kf *keystoreFlags) flags(fs *flag.FlagSet) {
	fs.StringVar(&kf.path, "keystore", "esgate.keystore", "keystore file")
	fs.BoolVar(&kf.unprotected, "unprotected", false, "create: no password (values are sealed but anyone who can read the file can open it)")
	fs.BoolVar(&kf.force, "force", false, "add: replace an existing value")
}

// keystoreCmd implements `esgate keystore …`.
func keystoreCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		lookupCommand("keystore").help(stderr)
		return exitUsage
	}
	sub := args[0]
	if sub == "help" || sub == "-h" || sub == "--help" || sub == "-help" {
		lookupCommand("keystore").help(stdout)
		return exitOK
	}
	kf := &keystoreFlags{}
	c := lookupCommand("keystore")
	fs, _ := c.flagSet(kf)
	path, unprotected, force := &kf.path, &kf.unprotected, &kf.force
	// Accept flags before or after NAME.
	var pos []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				c.help(stdout)
				return exitOK
			}
			fmt.Fprintf(stderr, "error: %s\n", flagError(c, err))
			return exitUsage
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "error: %s\n", err)
		return exitFailed
	}
	if sub == "create" {
		var pw []byte
		if !*unprotected {
			var err error
			if pw, err = password(stdin, stderr, true); err != nil {
				return fail(err)
			}
		}
		if _, err := keystore.Create(*path, pw); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "created %s (mode 0600)\n", *path)
		return exitOK
	}
	var name string
	switch sub {
	case "add", "show", "remove":
		if len(pos) != 1 {
			fmt.Fprintf(stderr, "error: keystore %s takes one NAME\n", sub)
			return exitUsage
		}
		name = pos[0]
	case "list":
	default:
		fmt.Fprintf(stderr, "error: unknown keystore command %q (see esgate keystore --help)\n", sub)
		return exitUsage
	}
	ks, err := keystore.Open(*path, []byte(os.Getenv(keystorePassEnv)))
	if err != nil {
		return fail(err)
	}
	_, exists := ks.Get(name)
	switch sub {
	case "add":
		if exists && !*force {
			return fail(fmt.Errorf("%s is already in the keystore: use --force to replace it", name))
		}
		v, err := readValue(stdin, stderr, name)
		if err == nil {
			err = ks.Set(name, v)
		}
		if err == nil {
			err = ks.Save()
		}
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "added %s\n", name)
	case "list":
		for _, n := range ks.Names() {
			fmt.Fprintln(stdout, n)
		}
	case "show", "remove":
		if !exists {
			return fail(fmt.Errorf("%s is not in the keystore", name))
		}
		if sub == "show" {
			v, _ := ks.Get(name)
			fmt.Fprintln(stdout, v)
			break
		}
		ks.Remove(name)
		if err := ks.Save(); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "removed %s\n", name)
	}
	return exitOK
}

// password returns ESGATE_KEYSTORE_PASS, or asks twice on a terminal.
func password(stdin io.Reader, stderr io.Writer, confirm bool) ([]byte, error) {
	if v, ok := os.LookupEnv(keystorePassEnv); ok {
		if v == "" {
			return nil, errors.New(keystorePassEnv + " is empty: use --unprotected for a keystore without a password")
		}
		return []byte(v), nil
	}
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, errors.New("set " + keystorePassEnv + " (no terminal to ask on), or use --unprotected")
	}
	fmt.Fprint(stderr, "Keystore password: ")
	pw, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(stderr)
	if err != nil {
		return nil, err
	}
	if confirm {
		fmt.Fprint(stderr, "Again: ")
		again, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return nil, err
		}
		if string(again) != string(pw) {
			return nil, errors.New("the passwords differ")
		}
	}
	if len(pw) == 0 {
		return nil, errors.New("empty password: use --unprotected for a keystore without a password")
	}
	return pw, nil
}

// readValue reads a value from a hidden prompt on a terminal, else the
// first line of stdin.
func readValue(stdin io.Reader, stderr io.Writer, name string) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(stderr, "Value of %s: ", name)
		v, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		return string(v), err
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty value on stdin")
	}
	return line, nil
}
