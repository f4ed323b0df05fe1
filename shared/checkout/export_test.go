package checkout

// Test hooks into the JSON parser of jsonwire.go.

// JSONNumber is a number's literal text in the values ParseJSON returns.
type JSONNumber string

// ParseJSON parses data with the parser of the typed codecs (size limit
// MaxResponseBytes) and returns it as plain Go values, as encoding/json
// decodes into an any with UseNumber: nil, bool, JSONNumber, string,
// []any and map[string]any (where a repeated name's last value wins).
func ParseJSON(data []byte) (any, error) {
	v, err := parseJSON(data, MaxResponseBytes)
	if err != nil {
		return nil, err
	}
	return plain(&v), nil
}

func plain(v *jsonValue) any {
	switch v.kind {
	case jsonBool:
		return v.text == "true"
	case jsonNumber:
		return JSONNumber(v.text)
	case jsonString:
		return v.text
	case jsonArray:
		out := make([]any, len(v.kids))
		for i := range v.kids {
			out[i] = plain(&v.kids[i].value)
		}
		return out
	case jsonObject:
		out := make(map[string]any, len(v.kids))
		for i := range v.kids {
			out[v.kids[i].name] = plain(&v.kids[i].value)
		}
		return out
	}
	return nil
}

// AppendJSONString is appendJSONString.
var AppendJSONString = appendJSONString

// JSONMaxDepth is jsonMaxDepth.
const JSONMaxDepth = jsonMaxDepth
