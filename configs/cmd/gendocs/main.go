// Command gendocs rewrites the generated configuration reference in
// docs/configuration.md from the config struct's tags (make docs).
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/esgate/esgate/configs"
)

func main() {
	const path = "docs/configuration.md"
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s := string(b)
	i, j := strings.Index(s, configs.ReferenceBegin), strings.Index(s, configs.ReferenceEnd)
	if i < 0 || j < i {
		fmt.Fprintf(os.Stderr, "%s: markers not found\n", path)
		os.Exit(1)
	}
	s = s[:i+len(configs.ReferenceBegin)] + "\n" + configs.Reference() + s[j:]
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
