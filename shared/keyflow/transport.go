package keyflow

// Request is one HTTP request as the Client needs it.
type Request struct {
	Method string
	URL    string
	Header map[string]string
	Body   []byte
}

// Response is one HTTP response. Header names are lower case.
type Response struct {
	Status int
	Header map[string]string
	Body   []byte
}

// Transport performs HTTP requests. It sends cookies for the same origin
// (fetch's credentials: "same-origin"). An error means no response was
// received (a network failure or ctx ended); any HTTP status, 4xx and 5xx
// included, is a Response.
type Transport interface {
	Do(ctx Context, req Request) (Response, error)
}
