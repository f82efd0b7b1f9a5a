package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/esgate/esgate/test/esserver"
	"github.com/esgate/esgate/test/pki"
)

// storeFixtures makes real JKS and PKCS#12 stores with keytool and openssl
// (not with the libraries esgate reads them with): a client keystore and a
// truststore with the server's CA, in both formats.
func storeFixtures(t *testing.T, es *esserver.Server) (dir string) {
	t.Helper()
	need(t, "/usr/bin/keytool")
	need(t, "/usr/bin/openssl")
	dir = t.TempDir()
	leaf, err := es.CA.Issue("logstash-pki", "rsa", pki.Client())
	if err != nil {
		t.Fatal(err)
	}
	crt, key, ca := filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key"), filepath.Join(dir, "ca.pem")
	leaf.WriteFiles(crt, key, "pkcs8", "")
	os.WriteFile(ca, es.CA.CertPEM(), 0o644)
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	run("openssl", "pkcs12", "-export", "-in", crt, "-inkey", key, "-name", "logstash", "-out", filepath.Join(dir, "client.p12"), "-passout", "pass:changeit")
	run("keytool", "-importkeystore", "-noprompt", "-srckeystore", filepath.Join(dir, "client.p12"), "-srcstoretype", "PKCS12",
		"-srcstorepass", "changeit", "-destkeystore", filepath.Join(dir, "client.jks"), "-deststoretype", "JKS", "-deststorepass", "changeit")
	for _, typ := range []string{"JKS", "PKCS12"} {
		ext := map[string]string{"JKS": "jks", "PKCS12": "p12"}[typ]
		run("keytool", "-importcert", "-noprompt", "-alias", "es-ca", "-file", ca, "-keystore", filepath.Join(dir, "truststore."+ext),
			"-storetype", typ, "-storepass", "changeit")
	}
	return dir
}

// TestJavaAndPKCS12Stores serves through esgate with every combination of
// keystore and truststore format and checks the PKI user ES sees.
func TestJavaAndPKCS12Stores(t *testing.T) {
	es, _ := esserver.StartT(t, esserver.Options{})
	es.MapPKIUser("logstash-pki", "superuser")
	dir := storeFixtures(t, es)
	for _, ks := range []string{"client.p12", "client.jks"} {
		for _, ts := range []string{"truststore.jks", "truststore.p12"} {
			t.Run(ks+"+"+ts, func(t *testing.T) {
				p := startEsgate(t, []string{"changeit"}, "--hosts", es.URL,
					"--ssl-keystore-path", filepath.Join(dir, ks), "--ssl-keystore-password", "changeit",
					"--ssl-truststore-path", filepath.Join(dir, ts), "--ssl-truststore-password", "changeit")
				res, err := http.Get(p.URL + "/_security/_authenticate")
				if err != nil {
					t.Fatal(err)
				}
				var who struct {
					Username string                `json:"username"`
					Realm    struct{ Type string } `json:"authentication_realm"`
				}
				json.NewDecoder(res.Body).Decode(&who)
				res.Body.Close()
				if res.StatusCode != 200 || who.Username != "logstash-pki" || who.Realm.Type != "pki" {
					t.Errorf("status %d, user %q realm %q", res.StatusCode, who.Username, who.Realm.Type)
				}
			})
		}
	}
	// A wrong store password is a startup error naming the key.
	out, err := exec.Command(esgateBin, "serve", "--hosts", es.URL, "--ssl-keystore-path", filepath.Join(dir, "client.p12"),
		"--ssl-keystore-password", "wrong", "--ssl-truststore-path", filepath.Join(dir, "truststore.jks"), "--ssl-truststore-password", "changeit").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "error: ssl_keystore_path: loading client certificate: decoding PKCS#12 keystore") || !strings.Contains(string(out), "wrong store password?") {
		t.Errorf("wrong password: %v %s", err, out)
	}
	// Logstash's old names in a file still work, with a deprecation warning.
	cfg := filepath.Join(t.TempDir(), "old.yml")
	writeFile(t, cfg, "hosts: "+es.URL+"\nkeystore: "+filepath.Join(dir, "client.jks")+"\nkeystore_password: changeit\ntruststore: "+filepath.Join(dir, "truststore.jks")+"\ntruststore_password: changeit\n")
	p := startEsgate(t, []string{"changeit"}, "--config", cfg)
	waitLog(t, p, "keystore is deprecated: use ssl_keystore_path")
	res, err := http.Get(p.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("legacy names: %d", res.StatusCode)
	}
}
