package checkout

import "errors"

// Code is a machine-readable error code. Clients branch on codes, never on
// messages.
type Code string

// The error codes of the contract (CONTRACT.md section 3).
const (
	CodeInvalidRequest          Code = "invalid_request"
	CodeRequestTooLarge         Code = "request_too_large"
	CodeUnsupportedMediaType    Code = "unsupported_media_type"
	CodeInvalidItems            Code = "invalid_items"
	CodeInvalidPaymentMethod    Code = "invalid_payment_method"
	CodePaymentAlreadyCompleted Code = "payment_already_completed"
	CodeRequestInProgress       Code = "request_in_progress"
	CodePaymentUnavailable      Code = "payment_unavailable"
	CodePaymentIntentFailed     Code = "payment_intent_failed"
	CodeInvalidSignature        Code = "invalid_signature"
	CodeNotFound                Code = "not_found"
	CodeMethodNotAllowed        Code = "method_not_allowed"
	CodeInternal                Code = "internal"
)

// Canonical messages. Clients may show them to shoppers verbatim.
const (
	MessageAlreadyCompleted   = "Payment already completed for this session. Please clear your checkout and start a new order."
	MessagePaymentUnavailable = "payment unavailable"
	MessageIntentFailed       = "failed to create payment intent"
	MessageInternal           = "Internal error."
	MessageRequestInProgress  = "Another request with this idempotency key is being processed. Retry shortly."
	MessageRequestTooLarge    = "Request body is larger than 64 KiB."
	MessageNotFound           = "Not found."
)

// statuses is the one table that maps codes to HTTP statuses.
var statuses = map[Code]int{
	CodeInvalidRequest:          400,
	CodeInvalidSignature:        400,
	CodeNotFound:                404,
	CodeMethodNotAllowed:        405,
	CodePaymentAlreadyCompleted: 409,
	CodeRequestInProgress:       409,
	CodeRequestTooLarge:         413,
	CodeUnsupportedMediaType:    415,
	CodeInvalidItems:            422,
	CodeInvalidPaymentMethod:    422,
	CodeInternal:                500,
	CodePaymentUnavailable:      502,
	CodePaymentIntentFailed:     502,
}

// HTTPStatus returns the HTTP status for code; unknown codes are 500.
func (c Code) HTTPStatus() int {
	if s, ok := statuses[c]; ok {
		return s
	}
	return 500
}

// Error is an error that is safe to show to the client: a code and a
// human-readable message.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string {
	return "onecharge error: code=" + string(e.Code) + " message=" + e.Message
}

// NewError returns an *Error with code and message. Messages are built
// with strconv and concatenation: the js build of this package does not
// import fmt, which would add about 130 KB (brotli) to the WebAssembly
// bundle. Native code may use Errorf instead.
func NewError(code Code, message string) *Error {
	return &Error{Code: code, Message: message}
}

// ErrorCode returns the code of the first *Error in err's chain, CodeInternal
// for any other non-nil error and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	} else if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the message of the first *Error in err's chain and
// MessageInternal for any other error, so internal details never leak.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	} else if e, ok := errors.AsType[*Error](err); ok {
		return e.Message
	}
	return MessageInternal
}

// ErrAlreadyCompleted is returned when a key's payment succeeded or is processing.
var ErrAlreadyCompleted = &Error{Code: CodePaymentAlreadyCompleted, Message: MessageAlreadyCompleted}

// ErrorBody is the JSON shape of every error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inner object of ErrorBody.
type ErrorDetail struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}
