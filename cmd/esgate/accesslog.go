package main

import (
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/esgate/esgate/proxy"
)

// accessLogger is log with the attribute log=access: the access log.
// When log writes through slog's own text or JSON handler into serve's
// log buffer, the access line is written by accessHandler.
func accessLogger(log *slog.Logger) *slog.Logger {
	l := log.With("log", "access")
	fh, ok := log.Handler().(flushHandler)
	if !ok || fh.stock == nil {
		return l
	}
	return slog.New(accessHandler{Handler: l.Handler(), b: fh.b, json: fh.stock.json})
}

// accessHandler is the access log's handler: a slog handler (stock text
// or JSON, with log=access) that writes proxy.AccessRecord lines itself,
// byte for byte as that handler writes them (TestAccessLineMatchesSlog,
// FuzzAccessLine). Values it cannot write so plainly (a string with a
// space, a quote or any byte outside printable ASCII, a float that JSON
// writes with an exponent) go through slog.
type accessHandler struct {
	slog.Handler
	b    *logBuffer
	json bool
}

var accessBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// WriteAccess implements proxy.AccessWriter.
func (h accessHandler) WriteAccess(t time.Time, a proxy.AccessRecord) bool {
	bp := accessBufs.Get().(*[]byte)
	defer accessBufs.Put(bp)
	var ok bool
	if h.json {
		*bp, ok = appendAccessJSON((*bp)[:0], t, &a)
	} else {
		*bp, ok = appendAccessText((*bp)[:0], t, &a)
	}
	if ok {
		h.b.Write(*bp)
	}
	return ok
}

// plainString reports whether both handlers write s as it is (text)
// or between quotes (JSON): printable ASCII without space, '=', '"' or
// '\'. slog's text handler quotes a string with a space, '=', '"' or a
// control character, its JSON handler escapes '"', '\' and control
// characters.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '=' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// appendAccessText writes a as slog's TextHandler with log=access does.
func appendAccessText(b []byte, t time.Time, a *proxy.AccessRecord) ([]byte, bool) {
	b = append(b, "time="...)
	b = appendMillis(b, t)
	b = append(b, " level=INFO msg=request log=access"...)
	l := accessLine{b: b, ok: true}
	l.fields(a)
	return append(l.b, '\n'), l.ok
}

// appendAccessJSON writes a as slog's JSONHandler with log=access does.
func appendAccessJSON(b []byte, t time.Time, a *proxy.AccessRecord) ([]byte, bool) {
	b = append(b, `{"time":"`...)
	b = t.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"request","log":"access"`...)
	l := accessLine{b: b, json: true, ok: true}
	l.fields(a)
	return append(l.b, "}\n"...), l.ok
}

// accessLine appends an access line's attributes, as text or JSON; ok
// turns false at a value that slog would write otherwise.
type accessLine struct {
	b        []byte
	json, ok bool
}

// fields writes a's attributes in proxy.AccessRecord.Attrs's order.
func (l *accessLine) fields(a *proxy.AccessRecord) {
	l.str("route", a.Route)
	l.str("method", a.Method)
	l.str("path", a.Path)
	l.num("status", int64(a.Status))
	l.num("bytes_in", a.BytesIn)
	l.num("bytes_out", a.BytesOut)
	l.flt("duration_ms", a.DurationMS)
	l.str("upstream", a.Upstream)
	l.flt("upstream_ms", a.UpstreamMS)
	if a.HasHead {
		l.flt("head_ms", a.HeadMS)
	}
	if a.Aborted {
		l.key("aborted")
		l.b = append(l.b, "true"...)
	}
	if a.Client != "" {
		l.str("client", a.Client)
	}
	if a.Bulk {
		l.num("events", a.Events)
		l.num("items", int64(a.Items))
		l.num("item_errors", int64(a.ItemErrors))
	}
}

func (l *accessLine) key(k string) {
	if l.json {
		l.b = append(l.b, `,"`...)
		l.b = append(l.b, k...)
		l.b = append(l.b, `":`...)
		return
	}
	l.b = append(l.b, ' ')
	l.b = append(l.b, k...)
	l.b = append(l.b, '=')
}

func (l *accessLine) str(k, v string) {
	l.key(k)
	switch {
	case v != "" && !plainString(v):
		l.ok = false
	case l.json:
		l.b = append(l.b, '"')
		l.b = append(l.b, v...)
		l.b = append(l.b, '"')
	case v == "":
		l.b = append(l.b, `""`...) // text quotes the empty string
	default:
		l.b = append(l.b, v...)
	}
}

func (l *accessLine) num(k string, v int64) {
	l.key(k)
	l.b = strconv.AppendInt(l.b, v, 10)
}

func (l *accessLine) flt(k string, v float64) {
	l.key(k)
	if !l.json {
		l.b = strconv.AppendFloat(l.b, v, 'g', -1, 64)
		return
	}
	// encoding/json's form, which slog's JSON handler uses: 'f', except
	// for magnitudes it writes with an exponent (and NaN, an error).
	if abs := math.Abs(v); abs != 0 && (abs < 1e-6 || abs >= 1e21) || math.IsNaN(v) {
		l.ok = false
	}
	l.b = strconv.AppendFloat(l.b, v, 'f', -1, 64)
}

// appendMillis writes t as slog's text handler does: RFC 3339 with
// exactly three digits of milliseconds (time's layout
// 2006-01-02T15:04:05.000Z07:00, written field by field: the layout is
// parsed anew at every AppendFormat).
func appendMillis(b []byte, t time.Time) []byte {
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.Truncate(time.Millisecond).AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	}
	hour, min, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, min, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond()/1e6, 3)
	_, off := t.Zone()
	if off == 0 {
		return append(b, 'Z')
	}
	sign := byte('+')
	if off < 0 {
		sign, off = '-', -off
	}
	b = append(b, sign)
	b = appendDigits(b, off/3600, 2)
	b = append(b, ':')
	return appendDigits(b, off/60%60, 2) // seconds of the offset are not shown
}

// appendDigits writes v (0 <= v) in at least width digits.
func appendDigits(b []byte, v, width int) []byte {
	var d [8]byte
	i := len(d)
	for v >= 10 || width > 1 {
		i--
		d[i] = byte('0' + v%10)
		v /= 10
		width--
	}
	i--
	d[i] = byte('0' + v)
	return append(b, d[i:]...)
}
