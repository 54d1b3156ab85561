package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// capture is a delivery as someone captured it: its headers and the body bytes.
type capture struct {
	header http.Header
	body   []byte
	// contentLength is the Content-Length header's value, -1 when there is none.
	contentLength int64
	// extra holds bytes found after the Content-Length's end of the body (an editor's final newline).
	extra []byte
}

var requestLine = regexp.MustCompile(`^[A-Z]+ \S+ HTTP/\d(\.\d)?\r?\n`)

// parseCapture reads a captured request: an HTTP/1.1 request as sent on the wire (request line, headers,
// blank line, body; what `simulate --dry-run`, nc or a proxy's "save raw request" give), or the same
// without the request line (headers, blank line, body).
func parseCapture(data []byte) (*capture, error) {
	if requestLine.Match(data) {
		return parseRequest(data)
	}
	head, body, ok := cutHead(data)
	if !ok {
		return nil, errors.New("no blank line ends the headers: give the headers, an empty line, then the body exactly as received")
	}
	// A copy: appending to head would overwrite the body that follows it in data.
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(slices.Concat(head, []byte("\r\n\r\n"))))).ReadMIMEHeader()
	if err != nil {
		return nil, fmt.Errorf("reading the headers: %w", err)
	}
	c := &capture{header: http.Header(h), body: body, contentLength: -1}
	return c.withLength()
}

func parseRequest(data []byte) (*capture, error) {
	br := bufio.NewReader(bytes.NewReader(data))
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, fmt.Errorf("reading the HTTP request: %w", err)
	}
	body, err := io.ReadAll(req.Body)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = nil // a body cut short of its Content-Length: diagnose says so
	}
	if err != nil {
		return nil, fmt.Errorf("reading the request body (Content-Length %d): %w", req.ContentLength, err)
	}
	rest, _ := io.ReadAll(br)
	c := &capture{header: req.Header, body: body, contentLength: req.ContentLength, extra: rest}
	if req.ContentLength <= 0 && len(req.TransferEncoding) == 0 && len(rest) > 0 {
		// Without a length the wire request has no body; a capture that lost the header still has one.
		c.body, c.extra, c.contentLength = rest, nil, -1
	}
	return c, nil
}

// withLength checks the body against a Content-Length header, keeping what follows its end apart.
func (c *capture) withLength() (*capture, error) {
	v := c.header.Get("Content-Length")
	if v == "" {
		return c, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("content-Length %q is not a length", v)
	}
	c.contentLength = n
	if int64(len(c.body)) > n {
		c.body, c.extra = c.body[:n], c.body[n:]
	}
	return c, nil
}

// cutHead splits at the first empty line (CRLF or LF line ends).
func cutHead(data []byte) (head, body []byte, ok bool) {
	for _, sep := range []string{"\r\n\r\n", "\n\n"} {
		if i := bytes.Index(data, []byte(sep)); i >= 0 {
			if j := bytes.Index(data, []byte("\n\n")); sep == "\r\n\r\n" && j >= 0 && j < i {
				continue // LF line ends, with a CRLF inside the body
			}
			return data[:i], data[i+len(sep):], true
		}
	}
	return nil, nil, false
}
