package main

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// layers are the design card's top-level folders, outermost first: a
// folder may import only folders of a later layer (or itself). auth and
// certs share the innermost layer and import neither each other nor
// anything above.
var layers = [][]string{{"cmd"}, {"test"}, {"proxy"}, {"configs"}, {"auth", "certs"}}

// fixtures are the test packages any folder's tests may import: the test
// server and its PKI, which import no card folder but test/.
var fixtures = map[string]bool{"test/esserver": true, "test/pki": true}

func layerOf(folder string) int {
	for i, l := range layers {
		for _, f := range l {
			if f == folder {
				return i
			}
		}
	}
	return -1
}

type listedPackage struct {
	ImportPath, Dir, Name                string
	GoFiles                              []string
	Imports, TestImports, XTestImports   []string
	TestGoFiles, XTestGoFiles, Deps, Err []string
}

// TestLayout holds the repository to the design card: every package lives
// under one of the card's folders, has a doc.go saying what it owns, and
// the folders import each other one way only.
func TestLayout(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go tool")
	}
	root, _ := filepath.Abs("../..")
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const module = "github.com/esgate/esgate/"
	dec := json.NewDecoder(strings.NewReader(string(out)))
	n := 0
	for dec.More() {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		n++
		rel := strings.TrimPrefix(p.ImportPath, module)
		folder, _, _ := strings.Cut(rel, "/")
		if layerOf(folder) < 0 {
			t.Errorf("%s is outside the card's folders (cmd proxy auth certs configs test)", rel)
			continue
		}
		// The package says what it owns: a doc.go for a library, the
		// package comment of a command.
		docFile := filepath.Join(p.Dir, "doc.go")
		if p.Name == "main" {
			docFile = filepath.Join(p.Dir, "main.go")
		}
		f, err := parser.ParseFile(token.NewFileSet(), docFile, nil, parser.PackageClauseOnly|parser.ParseComments)
		switch {
		case err != nil:
			t.Errorf("%s: %v", rel, err)
		case f.Doc == nil:
			t.Errorf("%s: %s has no package comment", rel, filepath.Base(docFile))
		case p.Name != "main" && !strings.HasPrefix(f.Doc.Text(), "Package "+p.Name+" "):
			t.Errorf("%s: doc.go's comment should start \"Package %s\"", rel, p.Name)
		case p.Name == "main" && !strings.HasPrefix(f.Doc.Text(), "Command "):
			t.Errorf("%s: the command's package comment should start \"Command\"", rel)
		}
		check := func(imports []string, test bool) {
			for _, imp := range imports {
				to, ok := strings.CutPrefix(imp, module)
				if !ok {
					continue
				}
				toFolder, _, _ := strings.Cut(to, "/")
				if toFolder == folder || layerOf(toFolder) > layerOf(folder) || test && fixtures[to] {
					continue
				}
				kind := "imports"
				if test {
					kind = "'s tests import"
				}
				t.Errorf("%s %s %s: %s/ may import only %s", rel, kind, to, folder, below(folder))
			}
		}
		check(p.Imports, false)
		check(append(p.TestImports, p.XTestImports...), true)
	}
	if n < 10 {
		t.Fatalf("go list listed %d packages", n)
	}
	// The top level is the card's list, plus deploy/, docs/ and .ci/.
	entries, _ := os.ReadDir(root)
	if len(entries) == 0 {
		t.Fatal("cannot read the repository's top level")
	}
	want := map[string]bool{"cmd": true, "proxy": true, "auth": true, "certs": true, "configs": true, "test": true,
		"go.mod": true, "go.sum": true, "Dockerfile": true, "Makefile": true, "deploy": true, "docs": true, "README.md": true}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || want[name] {
			continue
		}
		if ign := exec.Command("git", "-C", root, "check-ignore", "-q", name); ign.Run() == nil {
			continue // a local build or result (bin/, ./esgate), not in the repository
		}
		t.Errorf("top level holds %s, which is not in the design card", name)
	}
}

func below(folder string) string {
	var out []string
	for _, l := range layers[layerOf(folder)+1:] {
		out = append(out, l...)
	}
	if len(out) == 0 {
		return "itself and the test fixtures"
	}
	return strings.Join(out, ", ") + " and itself"
}
