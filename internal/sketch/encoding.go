package sketch

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"math/bits"
)

// Binary encoding. The first byte names the format, so a later format can be told from these; the
// second is the precision, so a sketch of another precision is refused instead of misread.
//
//	sparse: 0x01, Precision, then for each non-empty register in index order the uvarint difference
//	        between successive (index<<6 | value), starting from 0. Differences are always positive;
//	        a person costs 1 to 3 bytes.
//	dense:  0x02, Precision, then all registers as 6-bit values, big-endian, four in three bytes.
//
// MarshalBinary picks whichever is shorter: sparse up to about 3,300 people, dense after.
const (
	formatSparse = 0x01
	formatDense  = 0x02

	headerLen = 2
	denseLen  = headerLen + registers*6/8
)

// encoding is base64url without padding: safe in JSON, annotations and URLs.
var encoding = base64.RawURLEncoding

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("sketch: malformed encoding")

// MarshalBinary encodes h in the shorter of the sparse and dense formats. It never fails.
func (h *HLL) MarshalBinary() ([]byte, error) {
	if n := h.sparseLen(); n < denseLen {
		return h.appendSparse(make([]byte, 0, n)), nil
	}
	return h.appendDense(make([]byte, 0, denseLen)), nil
}

// sparseLen is the length of the sparse form, or denseLen once it is clear that sparse is no shorter.
func (h *HLL) sparseLen() int {
	n, prev := headerLen, 0
	for i, r := range h.nonEmpty() {
		packed := i<<6 | int(r)
		n += (bits.Len64(uint64(packed-prev)) + 6) / 7 // uvarint length; deltas are never 0
		prev = packed
		if n >= denseLen {
			return denseLen
		}
	}
	return n
}

func (h *HLL) appendSparse(b []byte) []byte {
	b = append(b, formatSparse, Precision)
	prev := 0
	for i, r := range h.nonEmpty() {
		packed := i<<6 | int(r)
		b = binary.AppendUvarint(b, uint64(packed-prev))
		prev = packed
	}
	return b
}

// nonEmpty yields the non-zero registers in index order, skipping empty ones eight at a time: small
// sketches, the common case, are almost all zeros.
func (h *HLL) nonEmpty() iter.Seq2[int, uint8] {
	return func(yield func(int, uint8) bool) {
		for i := 0; i < registers; i += 8 {
			if binary.LittleEndian.Uint64(h.reg[i:]) == 0 {
				continue
			}
			for j, r := range h.reg[i : i+8] {
				if r != 0 && !yield(i+j, r) {
					return
				}
			}
		}
	}
}

func (h *HLL) appendDense(b []byte) []byte {
	b = append(b, formatDense, Precision)
	for i := 0; i < registers; i += 4 {
		v := uint32(h.reg[i])<<18 | uint32(h.reg[i+1])<<12 | uint32(h.reg[i+2])<<6 | uint32(h.reg[i+3])
		b = append(b, byte(v>>16), byte(v>>8), byte(v))
	}
	return b
}

// UnmarshalBinary replaces h with the sketch encoded in data. On error h is unchanged.
func (h *HLL) UnmarshalBinary(data []byte) error {
	var out HLL
	// A sparse encoding is never longer than the dense one: MarshalBinary would have chosen dense.
	if len(data) < headerLen || len(data) > denseLen {
		return fmt.Errorf("%w: %d bytes, want %d to %d", ErrMalformed, len(data), headerLen, denseLen)
	}
	if data[1] != Precision {
		return fmt.Errorf("%w: precision %d, want %d", ErrMalformed, data[1], Precision)
	}
	var err error
	switch data[0] {
	case formatSparse:
		err = out.readSparse(data[headerLen:])
	case formatDense:
		err = out.readDense(data[headerLen:])
	default:
		err = fmt.Errorf("%w: unknown format %#x", ErrMalformed, data[0])
	}
	if err != nil {
		return err
	}
	*h = out
	return nil
}

func (h *HLL) readSparse(data []byte) error {
	packed, last := uint64(0), -1
	for len(data) > 0 {
		delta, n := binary.Uvarint(data)
		if n <= 0 {
			return fmt.Errorf("%w: truncated or overlong varint", ErrMalformed)
		}
		data = data[n:]
		// Bound delta before adding so that packed cannot wrap around.
		if delta == 0 || delta >= registers<<6 || packed+delta >= registers<<6 {
			return fmt.Errorf("%w: register index out of range", ErrMalformed)
		}
		packed += delta
		i, r := int(packed>>6), uint8(packed&63)
		if i <= last {
			return fmt.Errorf("%w: register %d repeated", ErrMalformed, i)
		}
		if r == 0 || r > maxRank {
			return fmt.Errorf("%w: register %d holds %d, want 1 to %d", ErrMalformed, i, r, maxRank)
		}
		h.reg[i], last = r, i
	}
	return nil
}

func (h *HLL) readDense(data []byte) error {
	if len(data) != denseLen-headerLen {
		return fmt.Errorf("%w: dense body of %d bytes, want %d", ErrMalformed, len(data), denseLen-headerLen)
	}
	for i := 0; i < registers; i += 4 {
		v := uint32(data[0])<<16 | uint32(data[1])<<8 | uint32(data[2])
		data = data[3:]
		h.reg[i], h.reg[i+1], h.reg[i+2], h.reg[i+3] = uint8(v>>18), uint8(v>>12&63), uint8(v>>6&63), uint8(v&63)
	}
	for i, r := range h.reg {
		if r > maxRank {
			return fmt.Errorf("%w: register %d holds %d, more than %d", ErrMalformed, i, r, maxRank)
		}
	}
	return nil
}

// String returns the compact text form: the binary encoding in unpadded base64url.
func (h *HLL) String() string {
	b, _ := h.MarshalBinary() // never fails
	return encoding.EncodeToString(b)
}

// Parse decodes the text form produced by String.
func Parse(s string) (*HLL, error) {
	h := New()
	if err := h.UnmarshalText([]byte(s)); err != nil {
		return nil, err
	}
	return h, nil
}

// MarshalText implements encoding.TextMarshaler, so that a sketch can sit in a JSON document as its
// String form.
func (h *HLL) MarshalText() ([]byte, error) {
	return []byte(h.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler for the String form. On error h is unchanged.
func (h *HLL) UnmarshalText(text []byte) error {
	if len(text) > encoding.EncodedLen(denseLen) {
		return fmt.Errorf("%w: %d characters, more than %d", ErrMalformed, len(text), encoding.EncodedLen(denseLen))
	}
	b := make([]byte, encoding.DecodedLen(len(text)))
	n, err := encoding.Decode(b, text)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return h.UnmarshalBinary(b[:n])
}
