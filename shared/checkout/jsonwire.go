package checkout

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// This file is a small strict JSON (RFC 8259) parser and string escaper,
// written without encoding/json, fmt and reflect: importing encoding/json
// costs the WebAssembly bundle about 250 KB (brotli), more than everything
// else in it. codec.go builds the typed codecs of the API bodies on it.

// jsonKind is the type of a jsonValue.
type jsonKind uint8

const (
	jsonNull jsonKind = iota
	jsonBool
	jsonNumber
	jsonString
	jsonArray
	jsonObject
)

// jsonValue is one parsed JSON value.
type jsonValue struct {
	kind jsonKind
	// text is a string's decoded value (valid UTF-8), a number's literal
	// text as written in the document ("-1.5e3"), or "true" or "false".
	text string
	// kids are an array's elements (with empty names) or an object's
	// members, in document order, duplicate names included.
	kids []jsonMember
}

// jsonMember is an object member or an array element.
type jsonMember struct {
	name  string
	value jsonValue
}

// jsonMaxDepth is how deep arrays and objects may nest. The API's bodies
// nest three levels deep; the limit only bounds the parser's recursion.
const jsonMaxDepth = 64

// jsonErrorKind says why a document does not decode.
type jsonErrorKind uint8

const (
	errJSONSyntax       jsonErrorKind = iota + 1 // not JSON, or truncated
	errJSONEmpty                                 // nothing but whitespace
	errJSONTooLarge                              // over the size limit
	errJSONTooDeep                               // nested deeper than jsonMaxDepth
	errJSONTrailing                              // more after the first value
	errJSONType                                  // a value of the wrong type
	errJSONUnknownField                          // an object member the type lacks (strict decoding)
)

// jsonError is the error of parsing and of the typed decoders.
type jsonError struct {
	kind jsonErrorKind
	// field is the dotted path of the field with the wrong type ("" for
	// the whole document), or the name of the unknown field.
	field string
	// offset is the byte offset of a syntax error or of trailing data.
	offset int
}

func (e *jsonError) Error() string {
	const prefix = "checkout: JSON: "
	switch e.kind {
	case errJSONSyntax:
		return prefix + "invalid syntax at offset " + strconv.Itoa(e.offset)
	case errJSONEmpty:
		return prefix + "empty document"
	case errJSONTooLarge:
		return prefix + "document too large"
	case errJSONTooDeep:
		return prefix + "nested deeper than " + strconv.Itoa(jsonMaxDepth) + " levels at offset " + strconv.Itoa(e.offset)
	case errJSONTrailing:
		return prefix + "data after the value at offset " + strconv.Itoa(e.offset)
	case errJSONType:
		if e.field == "" {
			return prefix + "the document has the wrong type"
		}
		return prefix + "field " + strconv.Quote(e.field) + " has the wrong type"
	case errJSONUnknownField:
		return prefix + "unknown field " + strconv.Quote(e.field)
	}
	return prefix + "invalid document"
}

// parseJSON parses data, which must hold exactly one JSON value with
// optional whitespace around it, at most maxBytes long.
func parseJSON(data []byte, maxBytes int) (jsonValue, *jsonError) {
	v, end, err := parseJSONPrefix(data, maxBytes)
	if err != nil {
		return jsonValue{}, err
	}
	if end < len(data) {
		return jsonValue{}, &jsonError{kind: errJSONTrailing, offset: end}
	}
	return v, nil
}

// parseJSONPrefix parses the JSON value at the start of data (after
// whitespace) and returns it with the offset after the whitespace that
// follows it: len(data) when nothing else follows.
func parseJSONPrefix(data []byte, maxBytes int) (jsonValue, int, *jsonError) {
	if len(data) > maxBytes {
		return jsonValue{}, 0, &jsonError{kind: errJSONTooLarge}
	}
	p := jsonParser{data: data}
	p.skipSpace()
	if p.pos == len(data) {
		return jsonValue{}, 0, &jsonError{kind: errJSONEmpty}
	}
	v, err := p.value()
	if err != nil {
		return jsonValue{}, 0, err
	}
	p.skipSpace()
	return v, p.pos, nil
}

// jsonParser is a recursive-descent parser over data.
type jsonParser struct {
	data  []byte
	pos   int
	depth int
}

func (p *jsonParser) syntaxError() *jsonError { return &jsonError{kind: errJSONSyntax, offset: p.pos} }

// peek returns the byte at pos, or 0 at the end (0 is never valid where
// the parser peeks).
func (p *jsonParser) peek() byte {
	if p.pos < len(p.data) {
		return p.data[p.pos]
	}
	return 0
}

func (p *jsonParser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jsonParser) value() (jsonValue, *jsonError) {
	switch c := p.peek(); {
	case c == '{' || c == '[':
		return p.container()
	case c == '"':
		s, err := p.string()
		return jsonValue{kind: jsonString, text: s}, err
	case c == '-' || '0' <= c && c <= '9':
		return p.number()
	case c == 't':
		return p.literal("true", jsonBool)
	case c == 'f':
		return p.literal("false", jsonBool)
	case c == 'n':
		return p.literal("null", jsonNull)
	}
	return jsonValue{}, p.syntaxError()
}

// container parses an object or an array.
func (p *jsonParser) container() (jsonValue, *jsonError) {
	if p.depth >= jsonMaxDepth {
		return jsonValue{}, &jsonError{kind: errJSONTooDeep, offset: p.pos}
	}
	p.depth++
	defer func() { p.depth-- }()

	v := jsonValue{kind: jsonArray}
	end := byte(']')
	if p.data[p.pos] == '{' {
		v.kind, end = jsonObject, '}'
	}
	p.pos++
	p.skipSpace()
	if p.peek() == end {
		p.pos++
		return v, nil
	}
	for {
		var m jsonMember
		if v.kind == jsonObject {
			if p.peek() != '"' {
				return jsonValue{}, p.syntaxError()
			}
			name, err := p.string()
			if err != nil {
				return jsonValue{}, err
			}
			p.skipSpace()
			if p.peek() != ':' {
				return jsonValue{}, p.syntaxError()
			}
			p.pos++
			p.skipSpace()
			m.name = name
		}
		var err *jsonError
		if m.value, err = p.value(); err != nil {
			return jsonValue{}, err
		}
		v.kids = append(v.kids, m)
		p.skipSpace()
		switch p.peek() {
		case ',':
			p.pos++
			p.skipSpace()
		case end:
			p.pos++
			return v, nil
		default:
			return jsonValue{}, p.syntaxError()
		}
	}
}

func (p *jsonParser) literal(word string, kind jsonKind) (jsonValue, *jsonError) {
	if len(p.data)-p.pos < len(word) || string(p.data[p.pos:p.pos+len(word)]) != word {
		return jsonValue{}, p.syntaxError()
	}
	p.pos += len(word)
	return jsonValue{kind: kind, text: word}, nil
}

// number parses -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? and keeps
// its text.
func (p *jsonParser) number() (jsonValue, *jsonError) {
	start := p.pos
	if p.peek() == '-' {
		p.pos++
	}
	switch c := p.peek(); {
	case c == '0':
		p.pos++
	case '1' <= c && c <= '9':
		p.digits()
	default:
		return jsonValue{}, p.syntaxError()
	}
	if p.peek() == '.' {
		p.pos++
		if p.digits() == 0 {
			return jsonValue{}, p.syntaxError()
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		p.pos++
		if c := p.peek(); c == '+' || c == '-' {
			p.pos++
		}
		if p.digits() == 0 {
			return jsonValue{}, p.syntaxError()
		}
	}
	return jsonValue{kind: jsonNumber, text: string(p.data[start:p.pos])}, nil
}

// digits skips [0-9]* and returns how many it skipped.
func (p *jsonParser) digits() int {
	start := p.pos
	for c := p.peek(); '0' <= c && c <= '9'; c = p.peek() {
		p.pos++
	}
	return p.pos - start
}

// string parses a string literal at pos (on its opening quote) and returns
// its value. Like encoding/json it never fails on content it can repair:
// invalid UTF-8 and unpaired surrogate escapes become U+FFFD. Control
// characters and unknown escapes are syntax errors.
func (p *jsonParser) string() (string, *jsonError) {
	p.pos++ // the opening quote
	start := p.pos
	// Fast path: no escapes and valid UTF-8, the value is the text.
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		if c == '"' {
			s := string(p.data[start:p.pos])
			p.pos++
			return s, nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		if c < utf8.RuneSelf {
			p.pos++
			continue
		}
		r, size := utf8.DecodeRune(p.data[p.pos:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		p.pos += size
	}
	buf := append([]byte(nil), p.data[start:p.pos]...)
	for p.pos < len(p.data) {
		switch c := p.data[p.pos]; {
		case c == '"':
			p.pos++
			return string(buf), nil
		case c < 0x20:
			return "", p.syntaxError()
		case c == '\\':
			if p.pos+1 >= len(p.data) {
				return "", p.syntaxError()
			}
			switch e := p.data[p.pos+1]; e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := p.u4(p.pos)
				if !ok {
					return "", p.syntaxError()
				}
				p.pos += 6
				if utf16.IsSurrogate(r) {
					// A high surrogate escape followed by a low one is
					// one character; any other surrogate is U+FFFD, and
					// what follows it is read on its own.
					r2, ok := p.u4(p.pos)
					if r = utf16.DecodeRune(r, r2); ok && r != utf8.RuneError {
						p.pos += 6
					}
				}
				buf = utf8.AppendRune(buf, r)
				continue
			default:
				return "", p.syntaxError()
			}
			p.pos += 2
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			p.pos++
		default:
			r, size := utf8.DecodeRune(p.data[p.pos:])
			buf = utf8.AppendRune(buf, r) // U+FFFD for invalid UTF-8, byte by byte
			p.pos += size
		}
	}
	return "", p.syntaxError() // unterminated
}

// u4 reads the escape \uXXXX at offset i.
func (p *jsonParser) u4(i int) (rune, bool) {
	if len(p.data)-i < 6 || p.data[i] != '\\' || p.data[i+1] != 'u' {
		return 0, false
	}
	var r rune
	for _, c := range p.data[i+2 : i+6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// appendJSONString appends s as a JSON string literal, byte for byte as
// encoding/json.Marshal writes it: invalid UTF-8 becomes \ufffd; '"' and
// '\\' are escaped, as are control characters (\b, \f, \n, \r, \t or
// \u00XX), the HTML-sensitive '<', '>' and '&' (\u003c, \u003e, \u0026)
// and U+2028 and U+2029.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
