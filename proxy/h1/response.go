package h1

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// maxPostHandlerRead is what is read of a request body the handler left
// unread, so that the connection can serve the next request; a longer
// rest closes the connection instead (net/http's 256 KiB).
const maxPostHandlerRead = 256 << 10

// bufferBeforeChunking is how much of a body without Content-Length is
// held back: an answer the handler ends within it gets a Content-Length
// instead of chunked framing, as with net/http.
const bufferBeforeChunking = 2048

// body is a request body of Content-Length bytes.
type body struct {
	c      *conn
	left   int64
	expect bool // Expect: 100-continue, not yet answered
	asked  bool // the client sent Expect: 100-continue
	sawEOF bool
	closed bool
	err    error
}

func (b *body) Read(p []byte) (int, error) {
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.left == 0 {
		b.sawEOF = true
		return 0, io.EOF
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.expect {
		b.expect = false
		if w := &b.c.st.w; !w.sentHeader && !w.wroteHeader {
			b.c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			if err := b.c.bw.Flush(); err != nil {
				b.err = err
				return 0, err
			}
		}
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.c.br.Read(p)
	b.left -= int64(n)
	switch {
	case b.left == 0:
		b.sawEOF = true
		err = io.EOF
	case err == io.EOF:
		err = io.ErrUnexpectedEOF
	}
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// Close marks the body closed; what is left of it is dealt with when the
// answer starts (read if small, else the connection closes).
func (b *body) Close() error {
	b.closed = true
	return nil
}

// response is the http.ResponseWriter of one request.
type response struct {
	c           *conn
	header      http.Header
	head        bool // a HEAD request: no body is written
	wantsClose  bool
	status      int
	wroteHeader bool // the status is set
	sentHeader  bool // the head is in the connection's buffer
	handlerDone bool
	chunked     bool
	length      int64 // the answer's Content-Length, -1 unknown
	written     int64
	closeAfter  bool
	pending     []byte // body held before the head is sent
	failed      error  // a write to the client failed
	scratch     [20]byte
}

func (w *response) reset(head, wantsClose bool) {
	clear(w.header)
	pending := w.pending[:0]
	*w = response{c: w.c, header: w.header, head: head, wantsClose: wantsClose, length: -1, pending: pending}
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic("invalid WriteHeader code " + strconv.Itoa(code))
	}
	if w.wroteHeader {
		return
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		// Informational: sent now, with the header map as it is.
		if w.failed != nil {
			return
		}
		w.writeStatusLine(code)
		w.writeFields()
		w.c.bw.WriteString("\r\n")
		w.failed = w.c.bw.Flush()
		return
	}
	w.wroteHeader = true
	w.status = code
	if cl := w.header.Get("Content-Length"); cl != "" {
		if n, ok := parseLength(trimSpace(cl)); ok {
			w.length = n
		} else {
			w.header.Del("Content-Length")
		}
	}
}

func (w *response) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.written += int64(len(p))
	if w.length != -1 && w.written > w.length {
		return 0, http.ErrContentLength
	}
	if w.failed != nil {
		return 0, w.failed
	}
	if !w.sentHeader {
		if w.length == -1 && len(w.pending)+len(p) <= bufferBeforeChunking {
			w.pending = append(w.pending, p...)
			return len(p), nil
		}
		w.sendPending(p)
	}
	w.writeBody(p)
	if w.failed != nil {
		return 0, w.failed
	}
	return len(p), nil
}

// sendPending writes the head, judged with next as the body's start,
// and the body held back so far.
func (w *response) sendPending(next []byte) {
	sniff := next
	if len(w.pending) > 0 {
		sniff = append(w.pending, next...)
		w.pending = sniff[:len(w.pending)]
	}
	w.sendHeader(sniff)
	if len(w.pending) > 0 {
		w.writeBody(w.pending)
		w.pending = w.pending[:0]
	}
}

func (w *response) writeBody(p []byte) {
	if w.head || len(p) == 0 || w.failed != nil {
		return
	}
	bw := w.c.bw
	if w.chunked {
		bw.Write(strconv.AppendInt(w.scratch[:0], int64(len(p)), 16))
		bw.WriteString("\r\n")
		bw.Write(p)
		_, w.failed = bw.WriteString("\r\n")
		return
	}
	_, w.failed = bw.Write(p)
}

// Flush sends what is buffered to the client.
func (w *response) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sentHeader {
		w.sendPending(nil)
	}
	if w.failed == nil {
		w.failed = w.c.bw.Flush()
	}
}

// FlushError is Flush that reports a failed write (http.ResponseController).
func (w *response) FlushError() error {
	w.Flush()
	return w.failed
}

// SetReadDeadline and SetWriteDeadline are the connection's
// (http.ResponseController).
func (w *response) SetReadDeadline(t time.Time) error  { return w.c.rwc.SetReadDeadline(t) }
func (w *response) SetWriteDeadline(t time.Time) error { return w.c.rwc.SetWriteDeadline(t) }

// finish ends the answer after the handler returned; false when the
// connection cannot be used further.
func (w *response) finish() bool {
	w.handlerDone = true
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sentHeader {
		w.sendPending(nil)
	}
	if w.chunked && !w.head {
		w.c.bw.WriteString("0\r\n\r\n")
	}
	if w.length != -1 && w.written != w.length && !w.head && bodyAllowed(w.status) {
		w.closeAfter = true // the client waits for bytes that never come
	}
	return w.failed == nil
}

// sendHeader writes the status line and header fields, deciding framing
// and keep-alive as net/http's server does. p is the start of the body
// (for a Content-Length when the handler is done, and sniffing).
func (w *response) sendHeader(p []byte) {
	w.sentHeader = true
	h := w.header
	c := w.c
	var extraLength, extraType, extraTE, extraConn string
	te := h.Get("Transfer-Encoding")
	hasTE := te != ""
	if w.handlerDone && !hasTE && bodyAllowed(w.status) && !has(h, "Content-Length") && (!w.head || len(p) > 0) {
		w.length = int64(len(p))
		extraLength = strconv.Itoa(len(p))
	}
	hasCL := w.length != -1
	if w.wantsClose || h.Get("Connection") == "close" || c.s.stopping.Load() {
		w.closeAfter = true
	}
	b := &c.st.body
	if b.asked && !b.sawEOF {
		w.closeAfter = true
	}
	// A body the handler left unread is read now, if small, so that the
	// next request can follow (clients that send a whole request before
	// reading the answer would otherwise deadlock).
	if c.st.req.ContentLength != 0 && !w.closeAfter {
		tooBig := false
		switch {
		case b.closed:
			if !b.sawEOF {
				w.closeAfter = true
			}
		case b.left >= maxPostHandlerRead:
			tooBig = true
		case !b.sawEOF:
			_, err := io.CopyN(io.Discard, b, maxPostHandlerRead+1)
			switch {
			case err == nil:
				tooBig = true
			case errors.Is(err, io.EOF), errors.Is(err, http.ErrBodyReadAfterClose):
			default:
				w.closeAfter = true
			}
		}
		if tooBig {
			w.closeAfter = true
			h.Del("Connection")
			extraConn = "close"
		}
	}
	code := w.status
	if bodyAllowed(code) {
		_, haveType := h["Content-Type"]
		if h.Get("Content-Encoding") == "" && !haveType && !hasTE && len(p) > 0 {
			extraType = http.DetectContentType(p)
		}
	} else {
		if code == http.StatusNotModified {
			h.Del("Content-Type")
		}
		h.Del("Content-Length")
		h.Del("Transfer-Encoding")
	}
	if hasCL && hasTE && te != "identity" {
		h.Del("Content-Length")
		hasCL = false
	}
	switch {
	case w.head || !bodyAllowed(code) || code == http.StatusNoContent:
		h.Del("Transfer-Encoding")
	case hasCL:
		h.Del("Transfer-Encoding")
	case te == "identity":
		w.closeAfter = true
		h.Del("Transfer-Encoding")
	default:
		w.chunked = true
		extraTE = "chunked"
		h.Del("Transfer-Encoding")
	}
	if w.chunked {
		h.Del("Content-Length")
	}
	if w.closeAfter && extraConn == "" && (!hasToken(h["Connection"], "close") || c.s.stopping.Load()) {
		h.Del("Connection")
		extraConn = "close"
	}

	w.writeStatusLine(code)
	w.writeFields()
	bw := c.bw
	if extraLength != "" {
		bw.WriteString("Content-Length: ")
		bw.WriteString(extraLength)
		bw.WriteString("\r\n")
	}
	if extraType != "" {
		bw.WriteString("Content-Type: ")
		bw.WriteString(extraType)
		bw.WriteString("\r\n")
	}
	if !has(h, "Date") {
		bw.WriteString("Date: ")
		bw.Write(httpDate())
		bw.WriteString("\r\n")
	}
	if extraTE != "" {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if extraConn != "" {
		bw.WriteString("Connection: close\r\n")
	}
	_, w.failed = bw.WriteString("\r\n")
}

func (w *response) writeStatusLine(code int) {
	bw := w.c.bw
	bw.WriteString("HTTP/1.1 ")
	bw.WriteByte(byte('0' + code/100))
	bw.WriteByte(byte('0' + code/10%10))
	bw.WriteByte(byte('0' + code%10))
	bw.WriteByte(' ')
	if text := http.StatusText(code); text != "" {
		bw.WriteString(text)
	} else {
		bw.WriteString("status code ")
		bw.WriteString(strconv.Itoa(code))
	}
	bw.WriteString("\r\n")
}

// writeFields writes the header map as net/http does: fields with an
// invalid name are left out, line breaks in values become spaces, values
// are trimmed.
func (w *response) writeFields() {
	bw := w.c.bw
	for k, vv := range w.header {
		if !validFieldName(k) {
			continue
		}
		for _, v := range vv {
			if strings.ContainsAny(v, "\r\n") {
				v = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ").Replace(v)
			}
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(trimSpace(v))
			bw.WriteString("\r\n")
		}
	}
}

func validFieldName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !isTokenChar(k[i]) {
			return false
		}
	}
	return true
}

func has(h http.Header, k string) bool {
	_, ok := h[k]
	return ok
}

// bodyAllowed reports whether a status may carry a body.
func bodyAllowed(code int) bool {
	switch {
	case code >= 100 && code <= 199:
		return false
	case code == http.StatusNoContent, code == http.StatusNotModified:
		return false
	}
	return true
}

// dateCache holds the Date header value of the current second.
var dateCache atomic.Pointer[dateValue]

type dateValue struct {
	sec int64
	val []byte
}

func httpDate() []byte {
	now := time.Now()
	if d := dateCache.Load(); d != nil && d.sec == now.Unix() {
		return d.val
	}
	d := &dateValue{sec: now.Unix(), val: now.UTC().AppendFormat(nil, http.TimeFormat)}
	dateCache.Store(d)
	return d.val
}
