package configs

import (
	"fmt"
	"strings"
)

// ExpandEnv replaces ${NAME} and ${NAME:default} in s, as Logstash does in
// its configs. NAME is letters, digits, '_' and '.'; a reference to an unset
// variable without a default is an error that names the variable.
func ExpandEnv(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ in value")
		}
		ref := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(ref, ":")
		if !validEnvName(name) {
			return "", fmt.Errorf("invalid variable name %q in ${...}", name)
		}
		if v, ok := lookup(name); ok {
			b.WriteString(v)
		} else if hasDef {
			b.WriteString(def)
		} else {
			return "", fmt.Errorf("%s is neither in the keystore nor in the environment (write ${%s:default} to give a default)", name, name)
		}
		s = s[i+end+1:]
	}
}

func validEnvName(n string) bool {
	if n == "" {
		return false
	}
	for i, c := range n {
		switch {
		case c == '_' || c == '.' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'):
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
