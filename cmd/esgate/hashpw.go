package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"

	"github.com/esgate/esgate/auth/frontdoor"
)

// hashFlags are hash-password's flags.
type hashFlags struct {
	token bool
	cost  int
}

func (hf *hashFlags) flags(fs *flag.FlagSet) {
	fs.BoolVar(&hf.token, "token", false, "hash a bearer token (SHA-256) for client_bearer_tokens instead of a password (bcrypt)")
	fs.IntVar(&hf.cost, "cost", 12, "bcrypt cost")
}

// hashPasswordCmd prints the stored form of a client secret: a bcrypt hash
// for client_basic_users, or with --token the SHA-256 for
// client_bearer_tokens. The secret is read from standard input (first
// line) or, on a terminal, a hidden prompt; never from the command line.
func hashPasswordCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	hf := &hashFlags{}
	fs, _, code, ok := lookupCommand("hash-password").parseFlags(hf, args, stdout, stderr)
	if !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "error: the secret is read from standard input, not the command line: esgate hash-password [--token] < secret")
		return exitUsage
	}
	token, cost := &hf.token, &hf.cost
	secret, err := readSecret(stdin, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "error: %s\n", err)
		return exitUsage
	}
	if *token {
		fmt.Fprintln(stdout, frontdoor.HashToken(secret))
		return exitOK
	}
	h, err := bcrypt.GenerateFromPassword([]byte(secret), *cost)
	if err != nil {
		fmt.Fprintf(stderr, "error: %s\n", err)
		return exitFailed
	}
	fmt.Fprintln(stdout, string(h))
	return exitOK
}

func readSecret(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Secret: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if len(b) == 0 {
			return "", errors.New("empty secret")
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty secret on standard input")
	}
	return line, nil
}
