//go:build !js || workers

package checkout

import "strconv"

// AppendCartResponse appends resp as JSON to b, byte for byte what
// encoding/json.Marshal returns for it, or fails where Marshal fails (an
// UpdatedAt outside the years 0 to 9999). Native only, for the server's
// PUT and GET /api/cart; the differential tests hold it to Marshal.
func AppendCartResponse(b []byte, resp CartResponse) ([]byte, error) {
	c := resp.Cart
	// encoding/json writes a time as its MarshalJSON does (then compacts
	// it, which changes nothing in an RFC 3339 string).
	at, err := c.UpdatedAt.MarshalJSON()
	if err != nil {
		return b, err
	}
	b = append(b, `{"cart":{"items":`...)
	if c.Items == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, l := range c.Items {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendLine(b, l)
		}
		b = append(b, ']')
	}
	b = append(b, `,"amount":`...)
	b = strconv.AppendInt(b, c.Amount, 10)
	b = append(b, `,"currency":`...)
	b = appendJSONString(b, c.Currency)
	b = append(b, `,"updated_at":`...)
	b = append(b, at...)
	return append(b, "}}"...), nil
}

// appendLine appends one order line as json.Marshal writes it. The
// browser build's EncodeValidateResponse (codec.go) writes its lines
// inline instead: calling this from there costs the bundle 2.4 KB brotli.
func appendLine(b []byte, l Line) []byte {
	b = append(b, `{"product_id":`...)
	b = appendJSONString(b, l.ProductID)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, l.Name)
	b = append(b, `,"quantity":`...)
	b = strconv.AppendInt(b, int64(l.Quantity), 10)
	b = append(b, `,"unit_amount":`...)
	b = strconv.AppendInt(b, l.UnitAmount, 10)
	return append(b, '}')
}
