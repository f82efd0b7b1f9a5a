package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/esgate/esgate/test/esserver"
)

// TestKeystore: create, add from stdin, list, show, and ${NAME} resolved
// from the keystore before the environment when serving.
func TestKeystore(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	id, _, key := es.CreateAPIKey("elastic", "from-keystore", 0, nil)
	dir := t.TempDir()
	ks := filepath.Join(dir, "esgate.keystore")
	env := append(os.Environ(), "ESGATE_KEYSTORE_PASS=correct horse")
	ksCmd := func(stdin string, args ...string) (string, int) {
		cmd := exec.Command(esgateBin, append([]string{"keystore"}, args...)...)
		cmd.Env = env
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return string(out), code
	}
	if out, code := ksCmd("", "create", "--keystore", ks); code != 0 {
		t.Fatalf("create: %d %s", code, out)
	}
	if out, code := ksCmd(key+"\n", "add", "ES_API_KEY", "--keystore", ks); code != 0 {
		t.Fatalf("add: %d %s", code, out)
	}
	if out, code := ksCmd("other\n", "add", "ES_API_KEY", "--keystore", ks); code != 1 || !strings.Contains(out, "use --force") {
		t.Errorf("add twice: %d %s", code, out)
	}
	if out, _ := ksCmd("", "list", "--keystore", ks); out != "ES_API_KEY\n" {
		t.Errorf("list: %q", out)
	}
	if out, _ := ksCmd("", "show", "ES_API_KEY", "--keystore", ks); out != key+"\n" {
		t.Errorf("show: %q", out)
	}
	fi, _ := os.Stat(ks)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	raw, _ := os.ReadFile(ks)
	if strings.Contains(string(raw), key) {
		t.Error("the key is in the file in clear")
	}

	// The config names the key; the keystore beside it supplies it, and
	// wins over an environment variable of the same name.
	cfgFile := filepath.Join(dir, "esgate.yml")
	writeFile(t, cfgFile, "hosts: "+es.URL+"\nssl_certificate_authorities: "+ca+"\napi_key: ${ES_API_KEY}\n")
	addr := freePort(t)
	readyPath := filepath.Join(t.TempDir(), "ready.json")
	cmd := exec.Command(esgateBin, "serve", "--config", cfgFile, "--listen", addr, "--reload-interval", "100ms", "--status-listen", "127.0.0.1:0", "--ready-file", readyPath)
	cmd.Env = append(env, "ES_API_KEY=not-the-key:x")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() { cmd.Process.Kill(); <-done }()
	p := &proc{cmd: cmd, out: out, URL: "http://" + addr, addr: addr, done: done}
	p.ready, p.readyPath = waitReadyFile(t, readyPath, done, out), readyPath
	var body string
	for deadline := time.Now().Add(catchHang); time.Now().Before(deadline); {
		if res, err := http.Get(p.URL + "/_security/_authenticate"); err == nil {
			b := make([]byte, 4096)
			n, _ := res.Body.Read(b)
			res.Body.Close()
			body = string(b[:n])
			break
		}
		waitMs(10)
	}
	if !strings.Contains(body, id) {
		t.Errorf("authenticated as %s; expected API key %s\n%s", body, id, out.String())
	}
	if strings.Contains(out.String(), key) {
		t.Error("the key appears in esgate's output")
	}

	// Replacing the value in the keystore reloads the configuration.
	id2, _, key2 := es.CreateAPIKey("elastic", "rotated-in-keystore", 0, nil)
	if o, code := ksCmd(key2+"\n", "add", "ES_API_KEY", "--force", "--keystore", ks); code != 0 {
		t.Fatalf("add --force: %d %s", code, o)
	}
	waitMetric(t, p, 1, "esgate_reloads_total", `result="success"`)
	res, err := http.Get(p.URL + "/_security/_authenticate")
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4096)
	n, _ := res.Body.Read(b)
	res.Body.Close()
	if !strings.Contains(string(b[:n]), id2) {
		t.Errorf("after the keystore changed: %s", b[:n])
	}

	if out, code := ksCmd("", "remove", "ES_API_KEY", "--keystore", ks); code != 0 || out != "removed ES_API_KEY\n" {
		t.Errorf("remove: %d %q", code, out)
	}
	if out, code := ksCmd("", "show", "ES_API_KEY", "--keystore", ks); code != 1 || !strings.Contains(out, "ES_API_KEY is not in the keystore") {
		t.Errorf("show after remove: %d %q", code, out)
	}
	if _, code := ksCmd("", "frobnicate", "--keystore", ks); code != 2 {
		t.Errorf("unknown subcommand: exit %d", code)
	}

	// Wrong password: a clear error, exit 2 (configuration).
	bad := exec.Command(esgateBin, "serve", "--config", cfgFile, "--listen", freePort(t), "--status-listen", "off")
	bad.Env = append(os.Environ(), "ESGATE_KEYSTORE_PASS=wrong")
	o, err := bad.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(o), "cannot open keystore: wrong password, or the file was modified") {
		t.Errorf("wrong password: %v %s", err, o)
	}
}
