package esserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Deprecation texts of BulkRequestParser.checkBulkActionIsProperlyClosed
// and its 8.x unsupported-action check (ES 8.x and 9.x sources).
const (
	warnUnclosedAction = "A bulk action wasn't closed properly with the closing brace. Malformed objects are currently accepted but will be rejected in a future version."
	warnMultipleKeys   = "A bulk action object contained multiple keys. Additional keys are currently ignored but will be rejected in a future version."
	warnTrailingData   = "A bulk action contained trailing data after the closing brace. This is currently ignored but will be rejected in a future version."
)

// bulkAction is one parsed action/metadata line.
type bulkAction struct {
	op   string         // the action: index, create, update, delete (or unsupported on 8.x)
	meta map[string]any // simple-valued metadata (nulls dropped, as ES ignores them)
	// supported is false for an 8.x unsupported action, which ES accepts
	// with a warning and then drops with its source line.
	supported bool
	warnings  []string
	typeSeen  bool // _type was given (compat-7)
}

// bulkLineError is a refused action line: ES's exception type and reason.
type bulkLineError struct{ typ, reason string }

func (e *bulkLineError) Error() string { return e.reason }

func illegalArg(format string, a ...any) *bulkLineError {
	return &bulkLineError{"illegal_argument_exception", fmt.Sprintf(format, a...)}
}

// jsonToken names a json.Decoder token as XContentParser.Token does.
func jsonToken(t json.Token) string {
	switch v := t.(type) {
	case json.Delim:
		switch v {
		case '{':
			return "START_OBJECT"
		case '}':
			return "END_OBJECT"
		case '[':
			return "START_ARRAY"
		default:
			return "END_ARRAY"
		}
	case string:
		return "VALUE_STRING"
	case json.Number, float64:
		return "VALUE_NUMBER"
	case bool:
		return "VALUE_BOOLEAN"
	case nil:
		return "VALUE_NULL"
	}
	return fmt.Sprint(t)
}

// bulkMetaKeys are the metadata keys BulkRequestParser accepts with a
// simple value (8.15+ and 9.x; _type only under compatible-with=7).
var bulkMetaKeys = map[string]bool{"_index": true, "_id": true, "routing": true, "op_type": true, "version": true,
	"version_type": true, "retry_on_conflict": true, "pipeline": true, "_source": true, "if_seq_no": true,
	"if_primary_term": true, "require_alias": true, "require_data_stream": true, "list_executed_pipelines": true}

// parseBulkAction parses action line number lineNo as BulkRequestParser
// does for the server's major and the request's REST API version (compat:
// "" for the server's own, else the compatible-with major). It returns
// nil, nil for a blank line.
func (s *Server) parseBulkAction(line []byte, lineNo int, compat string) (*bulkAction, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	tok, err := dec.Token()
	if err == io.EOF {
		return nil, nil
	}
	if err != nil {
		return nil, xcontentError(err, lineNo)
	}
	if jsonToken(tok) != "START_OBJECT" {
		return nil, illegalArg("Malformed action/metadata line [%d], expected START_OBJECT but found [%s]", lineNo, jsonToken(tok))
	}
	if !dec.More() {
		return nil, illegalArg("Malformed action/metadata line [%d], expected FIELD_NAME but found [END_OBJECT]", lineNo)
	}
	if tok, err = dec.Token(); err != nil {
		return nil, xcontentError(err, lineNo)
	}
	a := &bulkAction{op: tok.(string), meta: map[string]any{}, supported: true}
	switch a.op {
	case "index", "create", "update", "delete":
	default:
		if s.major() >= 9 {
			return nil, illegalArg("Malformed action/metadata line [%d], expected field [create], [delete], [index] or [update] but found [%s]", lineNo, a.op)
		}
		a.supported = false
		a.warnings = append(a.warnings, fmt.Sprintf("Unsupported action: [%s]. Supported values are [create], [delete], [index], and [update]. Unsupported actions are currently accepted but will be rejected in a future version.", a.op))
	}
	if tok, err = dec.Token(); err != nil {
		return nil, xcontentError(err, lineNo)
	}
	switch jsonToken(tok) {
	case "START_OBJECT":
		if err := s.parseBulkMeta(dec, a, lineNo, compat); err != nil {
			return nil, err
		}
	case "END_OBJECT":
		// {"index":{}}-less form is not JSON; an empty action object is
		// handled above. Nothing to read.
	default:
		return nil, illegalArg("Malformed action/metadata line [%d], expected START_OBJECT or END_OBJECT but found [%s]", lineNo, jsonToken(tok))
	}
	return a, s.checkActionClosed(dec, a, lineNo, compat)
}

// parseBulkMeta reads the metadata object after its START_OBJECT.
func (s *Server) parseBulkMeta(dec *json.Decoder, a *bulkAction, lineNo int, compat string) error {
	for {
		tok, err := dec.Token()
		if err != nil {
			return xcontentError(err, lineNo)
		}
		if jsonToken(tok) == "END_OBJECT" {
			return nil
		}
		key := tok.(string)
		if tok, err = dec.Token(); err != nil {
			return xcontentError(err, lineNo)
		}
		switch t := jsonToken(tok); t {
		case "VALUE_NULL":
			// Not a value token in XContent: ignored, whatever the key.
		case "START_ARRAY":
			return illegalArg("Malformed action/metadata line [%d], expected a simple value for field [%s] but found [START_ARRAY]", lineNo, key)
		case "START_OBJECT":
			if key != "dynamic_templates" && key != "_source" {
				return illegalArg("Malformed action/metadata line [%d], expected a simple value for field [%s] but found [START_OBJECT]", lineNo, key)
			}
			var v map[string]any
			if err := decodeRest(dec, &v); err != nil {
				return xcontentError(err, lineNo)
			}
			a.meta[key] = v
		default:
			if key == "_type" && compat == "7" {
				a.typeSeen = true
				continue
			}
			if !bulkMetaKeys[key] {
				return illegalArg("Action/metadata line [%d] contains an unknown parameter [%s]", lineNo, key)
			}
			a.meta[key] = tok
		}
	}
}

// decodeRest reads the rest of an object whose START_OBJECT was consumed.
func decodeRest(dec *json.Decoder, v *map[string]any) error {
	*v = map[string]any{}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return err
		}
		var val any
		if err := dec.Decode(&val); err != nil {
			return err
		}
		(*v)[fmt.Sprint(k)] = val
	}
	_, err := dec.Token() // END_OBJECT
	return err
}

// checkActionClosed is checkBulkActionIsProperlyClosed: in 8.x and in 9.x
// under compatible-with=8 a missing brace, extra keys or trailing data
// warn; in 9.x's own REST API version they are refused.
func (s *Server) checkActionClosed(dec *json.Decoder, a *bulkAction, lineNo int, compat string) error {
	lenient := s.major() < 9 || compat == "8"
	tok, err := dec.Token()
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		if lenient {
			a.warnings = append(a.warnings, warnUnclosedAction)
			return nil
		}
		return &bulkLineError{"x_content_e_o_f_exception", fmt.Sprintf("[1:%d] Unexpected end-of-input: expected close marker for OBJECT", dec.InputOffset()+1)}
	}
	if err != nil {
		return xcontentError(err, lineNo)
	}
	if t := jsonToken(tok); t != "END_OBJECT" {
		if lenient {
			a.warnings = append(a.warnings, warnMultipleKeys)
			return nil
		}
		if _, isKey := tok.(string); isKey {
			t = "FIELD_NAME"
		}
		return illegalArg("Malformed action/metadata line [%d], expected END_OBJECT but found [%s]", lineNo, t)
	}
	if _, err := dec.Token(); err != io.EOF {
		if lenient {
			a.warnings = append(a.warnings, warnTrailingData)
			return nil
		}
		return illegalArg("Malformed action/metadata line [%d], unexpected data after the closing brace", lineNo)
	}
	return nil
}

// xcontentError is a line that is not JSON at all (chosen: ES names the
// Jackson error; the test server names Go's).
func xcontentError(err error, lineNo int) error {
	return &bulkLineError{"x_content_parse_exception", fmt.Sprintf("[%d:1] Malformed action/metadata line: %v", lineNo, err)}
}
