package configs

import (
	"fmt"
	"strings"
)

// Reference renders the configuration reference as Markdown: one table a
// group (the headings of the commands' help), each key in the order of the
// Config struct with its flag and its help text (which states the
// default). docs/configuration.md holds this output between markers; a
// test keeps the two equal, so the reference cannot drift from the code
// (regenerate with make docs).
func Reference() string {
	var b strings.Builder
	for i, g := range AllGroups {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "### %s\n\n| key | flag | meaning (default) |\n|---|---|---|\n", g.Title())
		for _, f := range allFields {
			if f.group != g {
				continue
			}
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
	}
	return b.String()
}

// Reference markers in docs/configuration.md.
const (
	ReferenceBegin = "<!-- begin generated reference (make docs) -->"
	ReferenceEnd   = "<!-- end generated reference -->"
)
