package delivery

import (
	"bytes"
	"fmt"
)

// eventArrayDepth is where Meta's event arrays sit: body object (1) > entry array (2) > entry object (3)
// > messaging or standby array (4).
const eventArrayDepth = 4

// prescan enforces lim in one pass that allocates nothing: nesting depth, and the number of elements in
// arrays at eventArrayDepth. That count is exactly the number of events of a Messenger delivery and an upper
// bound for any other shape, so it caps what json.Unmarshal allocates. It does not validate JSON;
// json.Unmarshal does that next.
func prescan(b []byte, lim Limits) error {
	depth, elems := 0, 0
	inEventArray := false // the open container at eventArrayDepth is an array
	expectElem := false   // an element of that array may start at the next non-space byte
	for i := 0; i < len(b); i++ {
		c := b[i]
		if expectElem {
			switch c {
			case ' ', '\t', '\n', '\r':
				continue
			case ']':
			default:
				if elems++; elems > lim.MaxEvents {
					return fmt.Errorf("%w (more than %d)", ErrTooManyEvents, lim.MaxEvents)
				}
			}
			expectElem = false
		}
		switch c {
		case '"':
			i = stringEnd(b, i+1)
		case '{', '[':
			if depth++; depth > lim.MaxDepth {
				return fmt.Errorf("%w (more than %d levels)", ErrTooDeep, lim.MaxDepth)
			}
			if depth == eventArrayDepth {
				inEventArray = c == '['
				expectElem = inEventArray
			}
		case '}', ']':
			depth--
		case ',':
			expectElem = depth == eventArrayDepth && inEventArray
		}
	}
	return nil
}

// stringEnd returns the index of the quote closing the string whose contents start at i, or len(b).
// IndexByte skips the contents quickly; a quote preceded by an odd run of backslashes is escaped.
func stringEnd(b []byte, i int) int {
	start := i
	for {
		k := bytes.IndexByte(b[i:], '"')
		if k < 0 {
			return len(b)
		}
		q := i + k
		n := 0
		for p := q - 1; p >= start && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return q
		}
		i = q + 1
	}
}
