package configs

import (
	"fmt"
	"strings"
)

// Reference renders the configuration reference as a Markdown table:
// every key in the order of the Config struct, its flag, and its help
// text (which states the default). docs/configuration.md holds this
// output between markers; a test keeps the two equal, so the reference
// cannot drift from the code (regenerate with make docs).
func Reference() string {
	var b strings.Builder
	b.WriteString("| key | flag | meaning (default) |\n|---|---|---|\n")
	for _, f := range allFields {
		flag := "`--" + FlagName(f.key) + "`"
		if f.noflag {
			flag = "(file only)"
		}
		scope := ""
		if f.global {
			scope = " (global)"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s%s |\n", f.key, flag, strings.ReplaceAll(f.help, "|", `\|`), scope)
	}
	return b.String()
}

// Reference markers in docs/configuration.md.
const (
	ReferenceBegin = "<!-- begin generated reference (make docs) -->"
	ReferenceEnd   = "<!-- end generated reference -->"
)
