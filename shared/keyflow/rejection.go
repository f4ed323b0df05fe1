package keyflow

import (
	"errors"
	"strconv"

	"github.com/onecharge/onecharge/shared/checkout"
)

// Kind tells the page which message to show for a Rejection.
type Kind string

// The kinds of CONTRACT.md section 6.
const (
	// KindAlreadyCompleted: the payment of this checkout already completed,
	// and starting over without a key did not succeed either.
	KindAlreadyCompleted Kind = "already_completed"
	// KindPaymentUnavailable: codes payment_unavailable and
	// payment_intent_failed (after the retries every 5xx gets).
	KindPaymentUnavailable Kind = "payment_unavailable"
	// KindValidation: any other 4xx, and requests rejected locally by the
	// server's own rules before they were sent.
	KindValidation Kind = "validation"
	// KindGeneric: everything else: network errors and 5xx after the last
	// attempt, request_in_progress that never cleared, unreadable
	// responses, cancellation.
	KindGeneric Kind = "generic"
)

// Codes the client reports itself; every other code is the server's.
const (
	// CodeNetworkError: no response was received (Status 0).
	CodeNetworkError checkout.Code = "network_error"
	// CodeUnexpectedResponse: a response whose body is not the expected
	// JSON (a 200 that does not decode, or an error that is not an
	// ErrorBody, such as a proxy's HTML page).
	CodeUnexpectedResponse checkout.Code = "unexpected_response"
	// CodeCanceled: the context ended before an answer (Status 0).
	CodeCanceled checkout.Code = "canceled"
)

// Messages of the client's own codes.
const (
	MessageNetworkError = "The server could not be reached. Please check your connection and try again."
	MessageCanceled     = "The request was canceled."
)

// Rejection is the error of ValidateCartItems. It marshals to the JSON
// object {kind, code, message, status} that the JavaScript API rejects
// with. Status is the HTTP status of the last response, 0 when there was
// none.
type Rejection struct {
	Kind    Kind          `json:"kind"`
	Code    checkout.Code `json:"code"`
	Message string        `json:"message"`
	Status  int           `json:"status"`

	err error // cause, for errors.Is (context errors, transport errors)
}

func (r *Rejection) Error() string {
	return "onecharge: " + string(r.Kind) + ": " + string(r.Code) + " (status " + strconv.Itoa(r.Status) + "): " + r.Message
}

// Unwrap returns the cause: the context's error for CodeCanceled, the
// Transport's error for CodeNetworkError, nil otherwise.
func (r *Rejection) Unwrap() error { return r.err }

// kindOf classifies a code and status.
func kindOf(code checkout.Code, status int) Kind {
	switch {
	case code == checkout.CodePaymentAlreadyCompleted:
		return KindAlreadyCompleted
	case code == checkout.CodePaymentUnavailable, code == checkout.CodePaymentIntentFailed:
		return KindPaymentUnavailable
	case code == checkout.CodeRequestInProgress:
		return KindGeneric // transient; only reported once retries ran out
	case status >= 400 && status < 500:
		return KindValidation
	}
	return KindGeneric
}

// responseRejection turns a non-2xx response into a Rejection. A body that
// is not an ErrorBody keeps the status, with CodeUnexpectedResponse.
func responseRejection(res Response) *Rejection {
	body, err := checkout.DecodeErrorBody(res.Body)
	if err != nil || body.Error.Code == "" {
		return &Rejection{
			Kind:    kindOf("", res.Status),
			Code:    CodeUnexpectedResponse,
			Message: "The server answered with HTTP status " + strconv.Itoa(res.Status) + ".",
			Status:  res.Status,
		}
	}
	return &Rejection{
		Kind:    kindOf(body.Error.Code, res.Status),
		Code:    body.Error.Code,
		Message: body.Error.Message,
		Status:  res.Status,
	}
}

// localRejection is a request the server's own rules reject; it carries the
// status the server would answer with.
func localRejection(err error) *Rejection {
	code := checkout.ErrorCode(err)
	return &Rejection{
		Kind:    kindOf(code, code.HTTPStatus()),
		Code:    code,
		Message: checkout.ErrorMessage(err),
		Status:  code.HTTPStatus(),
	}
}

func networkRejection(err error) *Rejection {
	return &Rejection{Kind: KindGeneric, Code: CodeNetworkError, Message: MessageNetworkError, err: err}
}

func canceledRejection(err error) *Rejection {
	return &Rejection{Kind: KindGeneric, Code: CodeCanceled, Message: MessageCanceled, err: err}
}

// AsRejection returns err as a Rejection: a *Rejection in err's chain as
// it is; a *checkout.Error (a request the server's rules reject) with the
// code and the status the server would answer, kind by the usual rules;
// anything else as a generic rejection with status 0. It returns nil for
// nil.
func AsRejection(err error) *Rejection {
	if err == nil {
		return nil
	}
	if rej, ok := errors.AsType[*Rejection](err); ok {
		return rej
	}
	if cerr, ok := errors.AsType[*checkout.Error](err); ok {
		return localRejection(cerr)
	}
	if isCanceled(err) {
		return canceledRejection(err)
	}
	return &Rejection{Kind: KindGeneric, Code: checkout.CodeInternal, Message: checkout.MessageInternal, err: err}
}
