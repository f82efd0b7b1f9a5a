package logstash

import (
	"fmt"
	"strings"
)

// Kind is the kind of a Value.
type Kind int

// Value kinds, as Logstash's grammar has them.
const (
	String Kind = iota // "…" or '…'
	Bareword
	Number
	Array
	Hash
)

// Value is an attribute's value. Start and End are byte offsets of its
// source text (so a rewrite can replace it in place).
type Value struct {
	Kind  Kind
	Str   string // String (unquoted), Bareword, Number
	List  []Value
	Pairs []Pair
	Start int
	End   int
}

// Pair is one hash entry.
type Pair struct {
	Key   string
	Value Value
}

// Attr is `name => value`; Start and End span the whole attribute.
type Attr struct {
	Name       string
	Value      Value
	Start, End int
}

// Plugin is one plugin block: `name { attrs }` in a section. Section is
// input, filter or output; Cond is the text of the conditions it sits
// under ("" at the top), for messages.
type Plugin struct {
	Section    string
	Name       string
	Attrs      []Attr
	Cond       string
	Start, End int // the whole block
	BodyEnd    int // offset of the closing brace
	Line       int
}

// Attr returns the named attribute, or nil.
func (p *Plugin) Attr(name string) *Attr {
	for i := range p.Attrs {
		if p.Attrs[i].Name == name {
			return &p.Attrs[i]
		}
	}
	return nil
}

// Config is a parsed pipeline configuration.
type Config struct {
	Src     string
	Plugins []*Plugin // in source order, at any depth of conditionals
}

// SyntaxError is a parse failure at a line and column.
type SyntaxError struct {
	Line, Col int
	Msg       string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Col, e.Msg)
}

type parser struct {
	src  string
	pos  int
	cfg  *Config
	cond []string
}

// Parse reads a Logstash pipeline configuration: input/filter/output
// sections of plugins with attributes (strings, barewords, numbers,
// arrays, hashes, nested plugins), if/else if/else blocks (conditions are
// kept as text, not evaluated), and # comments.
func Parse(src string) (cfg *Config, err error) {
	p := &parser{src: src, cfg: &Config{Src: src}}
	defer func() {
		if r := recover(); r != nil {
			se, ok := r.(*SyntaxError)
			if !ok {
				panic(r)
			}
			cfg, err = nil, se
		}
	}()
	for {
		p.skip()
		if p.pos >= len(p.src) {
			return p.cfg, nil
		}
		section := p.word()
		switch section {
		case "input", "filter", "output":
		default:
			p.fail("want input, filter or output, got %q", section)
		}
		p.skip()
		p.expect('{')
		p.block(section)
	}
}

func (p *parser) fail(format string, args ...any) {
	line, col := 1, 1
	for _, c := range p.src[:min(p.pos, len(p.src))] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	panic(&SyntaxError{Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) lineAt(pos int) int { return 1 + strings.Count(p.src[:pos], "\n") }

// skip passes white space and comments.
func (p *parser) skip() {
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			p.pos++
		case c == '#':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
}

func (p *parser) expect(c byte) {
	if p.pos >= len(p.src) || p.src[p.pos] != c {
		got := "the end"
		if p.pos < len(p.src) {
			got = fmt.Sprintf("%q", p.src[p.pos])
		}
		p.fail("want %q, got %s", c, got)
	}
	p.pos++
}

func isWordByte(c byte) bool {
	return c == '_' || c == '-' || c == '@' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// word reads a bareword (also a plugin or section name).
func (p *parser) word() string {
	start := p.pos
	for p.pos < len(p.src) && isWordByte(p.src[p.pos]) {
		p.pos++
	}
	if p.pos == start {
		if p.pos < len(p.src) {
			p.fail("unexpected %q", p.src[p.pos])
		}
		p.fail("unexpected end of the configuration")
	}
	return p.src[start:p.pos]
}

// block reads plugins and conditionals up to the closing brace.
func (p *parser) block(section string) {
	for {
		p.skip()
		if p.pos >= len(p.src) {
			p.fail("missing } at the end of a %s block", section)
		}
		if p.src[p.pos] == '}' {
			p.pos++
			return
		}
		start := p.pos
		name := p.name()
		if name == "if" {
			p.branch(section)
			continue
		}
		p.plugin(section, name, start)
	}
}

// name reads a plugin or attribute name: a bareword or a string.
func (p *parser) name() string {
	if p.pos < len(p.src) && (p.src[p.pos] == '"' || p.src[p.pos] == '\'') {
		return p.str().Str
	}
	return p.word()
}

// branch reads `if cond { … } (else if cond { … })* (else { … })?`.
func (p *parser) branch(section string) {
	for {
		cond := p.condition()
		p.cond = append(p.cond, cond)
		p.block(section)
		p.cond = p.cond[:len(p.cond)-1]
		save := p.pos
		p.skip()
		if !strings.HasPrefix(p.src[p.pos:], "else") || (p.pos+4 < len(p.src) && isWordByte(p.src[p.pos+4])) {
			p.pos = save
			return
		}
		p.pos += 4
		p.skip()
		if strings.HasPrefix(p.src[p.pos:], "if") && (p.pos+2 >= len(p.src) || !isWordByte(p.src[p.pos+2])) {
			p.pos += 2
			continue
		}
		p.expect('{')
		p.cond = append(p.cond, "else")
		p.block(section)
		p.cond = p.cond[:len(p.cond)-1]
		return
	}
}

// condition reads a condition's text up to the block's opening brace,
// passing strings, regular expressions and brackets whole.
func (p *parser) condition() string {
	start := p.pos
	depth := 0
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == '"' || c == '\'':
			p.str()
			continue
		case c == '/' && p.regexAllowed(start):
			p.pos++
			for p.pos < len(p.src) && p.src[p.pos] != '/' {
				if p.src[p.pos] == '\\' {
					p.pos++
				}
				p.pos++
			}
			if p.pos >= len(p.src) {
				p.fail("unterminated regular expression")
			}
		case c == '(' || c == '[':
			depth++
		case c == ')' || c == ']':
			depth--
		case c == '{' && depth == 0:
			cond := strings.TrimSpace(p.src[start:p.pos])
			if cond == "" {
				p.fail("if without a condition")
			}
			p.pos++
			return cond
		case c == '#':
			p.skip()
			continue
		}
		p.pos++
	}
	p.fail("missing { after a condition")
	return ""
}

// regexAllowed: a / starts a regular expression after =~ or !~.
func (p *parser) regexAllowed(start int) bool {
	s := strings.TrimRight(p.src[start:p.pos], " \t\r\n")
	return strings.HasSuffix(s, "=~") || strings.HasSuffix(s, "!~")
}

// plugin reads `name { attribute* }`.
func (p *parser) plugin(section, name string, start int) *Plugin {
	pl := &Plugin{Section: section, Name: name, Start: start, Line: p.lineAt(start), Cond: strings.Join(p.cond, " / ")}
	p.skip()
	p.expect('{')
	for {
		p.skip()
		if p.pos >= len(p.src) {
			p.fail("missing } at the end of plugin %s", name)
		}
		if p.src[p.pos] == '}' {
			pl.BodyEnd = p.pos
			p.pos++
			pl.End = p.pos
			break
		}
		astart := p.pos
		aname := p.name()
		p.arrow(aname)
		v := p.value()
		pl.Attrs = append(pl.Attrs, Attr{Name: aname, Value: v, Start: astart, End: p.pos})
	}
	p.cfg.Plugins = append(p.cfg.Plugins, pl)
	return pl
}

func (p *parser) value() Value {
	if p.pos >= len(p.src) {
		p.fail("missing value")
	}
	start := p.pos
	switch c := p.src[p.pos]; {
	case c == '"' || c == '\'':
		return p.str()
	case c == '[':
		p.pos++
		v := Value{Kind: Array, Start: start}
		for {
			if p.closing(']') {
				v.End = p.pos
				return v
			}
			if len(v.List) > 0 {
				p.expect(',')
				p.skip()
			}
			v.List = append(v.List, p.value())
		}
	case c == '{':
		p.pos++
		v := Value{Kind: Hash, Start: start}
		for {
			if p.closing('}') {
				v.End = p.pos
				return v
			}
			if p.closing(',') { // tolerated between entries
				continue
			}
			key := p.name()
			p.arrow("hash key " + key)
			v.Pairs = append(v.Pairs, Pair{Key: key, Value: p.value()})
		}
	case c == '-' || (c >= '0' && c <= '9'):
		w := p.word()
		return Value{Kind: Number, Str: w, Start: start, End: p.pos}
	default:
		w := p.word()
		p.skip()
		if p.pos < len(p.src) && p.src[p.pos] == '{' { // a nested plugin (codec => json { … })
			pl := p.plugin("codec", w, start)
			p.cfg.Plugins = p.cfg.Plugins[:len(p.cfg.Plugins)-1]
			return Value{Kind: Bareword, Str: w, Start: start, End: pl.End}
		}
		return Value{Kind: Bareword, Str: w, Start: start, End: start + len(w)}
	}
}

// arrow passes the => between a name and its value.
func (p *parser) arrow(after string) {
	p.skip()
	if !strings.HasPrefix(p.src[p.pos:], "=>") {
		p.fail("want => after %s", after)
	}
	p.pos += 2
	p.skip()
}

// closing passes white space and then c, reporting whether c was there.
func (p *parser) closing(c byte) bool {
	p.skip()
	if p.pos < len(p.src) && p.src[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

// str reads a quoted string. As Logstash without config.support_escapes,
// backslashes stay as they are, except that \" (\') does not end the
// string and stands for the quote.
func (p *parser) str() Value {
	q := p.src[p.pos]
	start := p.pos
	p.pos++
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c == '\\' && p.pos+1 < len(p.src) && p.src[p.pos+1] == q {
			b.WriteByte(q)
			p.pos += 2
			continue
		}
		if c == q {
			p.pos++
			return Value{Kind: String, Str: b.String(), Start: start, End: p.pos}
		}
		b.WriteByte(c)
		p.pos++
	}
	p.pos = start
	p.fail("unterminated string")
	return Value{}
}

// Strings returns a value as a list of strings: a string or bareword is
// one, an array of them is each; ok is false for anything else.
func (v Value) Strings() (out []string, ok bool) {
	switch v.Kind {
	case String, Bareword, Number:
		return []string{v.Str}, true
	case Array:
		for _, e := range v.List {
			if e.Kind != String && e.Kind != Bareword && e.Kind != Number {
				return nil, false
			}
			out = append(out, e.Str)
		}
		return out, true
	}
	return nil, false
}
