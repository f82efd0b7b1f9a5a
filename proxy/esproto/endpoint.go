package esproto

import "strings"

// Endpoint classifies a request path into a bounded set of classes, for
// metric labels: root, bulk, search, index_template, ilm, security,
// cluster or other.
func Endpoint(path string) string {
	p := strings.Trim(path, "/")
	if p == "" {
		return "root"
	}
	for seg := range strings.SplitSeq(p, "/") {
		switch {
		case seg == "_bulk" || seg == "_monitoring":
			return "bulk"
		case seg == "_search" || seg == "_count" || seg == "_msearch":
			return "search"
		case seg == "_index_template" || seg == "_template" || seg == "_component_template":
			return "index_template"
		case seg == "_ilm":
			return "ilm"
		case seg == "_security":
			return "security"
		case seg == "_license" || seg == "_cluster" || seg == "_nodes" || seg == "_cat" || seg == "_xpack":
			return "cluster"
		}
	}
	return "other"
}
