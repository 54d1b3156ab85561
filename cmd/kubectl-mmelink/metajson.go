package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// reencodeJSON encodes the JSON text b again as Meta may have written it before signing: compact, keys in
// their order, strings with only the escapes JSON requires, and, with slashes, "/" as "\/". A body that a
// receiver decoded and encoded again (a framework's body parser, a log pipeline) was signed in its
// original form, not in the form the receiver holds; trying the forms finds which change it was. Meta
// also escapes non-ASCII characters, which metawebhook.EscapeNonASCII applies on top. Only the byte form
// changes; the values stay.
func reencodeJSON(b []byte, slashes bool) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out bytes.Buffer
	// Per open container: whether it is an object, and how many tokens it has had.
	type level struct {
		object bool
		n      int
	}
	var stack []level
	for {
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) && len(stack) == 0 && out.Len() > 0 {
				return out.Bytes(), nil
			}
			return nil, fmt.Errorf("not JSON: %w", err)
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			out.WriteByte(byte(d))
			continue
		}
		if len(stack) > 0 {
			top := &stack[len(stack)-1]
			switch {
			case top.object && top.n%2 == 1:
				out.WriteByte(':')
			case top.n > 0:
				out.WriteByte(',')
			}
			top.n++
		}
		switch v := tok.(type) {
		case json.Delim:
			stack = append(stack, level{object: v == '{'})
			out.WriteByte(byte(v))
		case string:
			writeMetaString(&out, v, slashes)
		case json.Number:
			out.WriteString(v.String())
		case bool:
			fmt.Fprint(&out, v)
		case nil:
			out.WriteString("null")
		}
	}
}

func writeMetaString(out *bytes.Buffer, s string, slashes bool) {
	out.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			out.WriteByte('\\')
			out.WriteRune(r)
		case r == '/' && slashes:
			out.WriteString(`\/`)
		case r == '\n':
			out.WriteString(`\n`)
		case r == '\r':
			out.WriteString(`\r`)
		case r == '\t':
			out.WriteString(`\t`)
		case r < 0x20:
			fmt.Fprintf(out, `\u%04x`, r)
		default:
			out.WriteRune(r)
		}
	}
	out.WriteByte('"')
}
