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
func (h accessHandler) WriteAccess(t time.Time, a *proxy.AccessRecord) bool {
	bp := accessBufs.Get().(*[]byte)
	defer accessBufs.Put(bp)
	var ok bool
	if h.json {
		*bp, ok = appendAccessJSON((*bp)[:0], t, a)
	} else {
		*bp, ok = appendAccessText((*bp)[:0], t, a)
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
	ok := true
	str := func(k, v string) {
		b = append(b, ' ')
		b = append(b, k...)
		b = append(b, '=')
		switch {
		case v == "":
			b = append(b, `""`...)
		case plainString(v):
			b = append(b, v...)
		default:
			ok = false
		}
	}
	num := func(k string, v int64) {
		b = append(b, ' ')
		b = append(b, k...)
		b = append(b, '=')
		b = strconv.AppendInt(b, v, 10)
	}
	flt := func(k string, v float64) {
		b = append(b, ' ')
		b = append(b, k...)
		b = append(b, '=')
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	str("route", a.Route)
	str("method", a.Method)
	str("path", a.Path)
	num("status", int64(a.Status))
	num("bytes_in", a.BytesIn)
	num("bytes_out", a.BytesOut)
	flt("duration_ms", a.DurationMS)
	str("upstream", a.Upstream)
	flt("upstream_ms", a.UpstreamMS)
	if a.HasHead {
		flt("head_ms", a.HeadMS)
	}
	if a.Aborted {
		b = append(b, " aborted=true"...)
	}
	if a.Client != "" {
		str("client", a.Client)
	}
	if a.Bulk {
		num("events", a.Events)
		num("items", int64(a.Items))
		num("item_errors", int64(a.ItemErrors))
	}
	return append(b, '\n'), ok
}

// appendAccessJSON writes a as slog's JSONHandler with log=access does.
func appendAccessJSON(b []byte, t time.Time, a *proxy.AccessRecord) ([]byte, bool) {
	b = append(b, `{"time":"`...)
	b = t.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"request","log":"access"`...)
	ok := true
	key := func(k string) {
		b = append(b, `,"`...)
		b = append(b, k...)
		b = append(b, `":`...)
	}
	str := func(k, v string) {
		key(k)
		if !plainString(v) && v != "" {
			ok = false
		}
		b = append(b, '"')
		b = append(b, v...)
		b = append(b, '"')
	}
	num := func(k string, v int64) {
		key(k)
		b = strconv.AppendInt(b, v, 10)
	}
	flt := func(k string, v float64) {
		key(k)
		// encoding/json's form, which slog uses: 'f' except for
		// magnitudes it writes with an exponent.
		if abs := math.Abs(v); abs != 0 && (abs < 1e-6 || abs >= 1e21) || math.IsNaN(v) {
			ok = false
		}
		b = strconv.AppendFloat(b, v, 'f', -1, 64)
	}
	str("route", a.Route)
	str("method", a.Method)
	str("path", a.Path)
	num("status", int64(a.Status))
	num("bytes_in", a.BytesIn)
	num("bytes_out", a.BytesOut)
	flt("duration_ms", a.DurationMS)
	str("upstream", a.Upstream)
	flt("upstream_ms", a.UpstreamMS)
	if a.HasHead {
		flt("head_ms", a.HeadMS)
	}
	if a.Aborted {
		b = append(b, `,"aborted":true`...)
	}
	if a.Client != "" {
		str("client", a.Client)
	}
	if a.Bulk {
		num("events", a.Events)
		num("items", int64(a.Items))
		num("item_errors", int64(a.ItemErrors))
	}
	return append(b, "}\n"...), ok
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
