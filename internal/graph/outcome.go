package graph

import "errors"

// UnknownOutcomeError is a failure after the request was sent: the connection dropped, the time ran out
// or the answer could not be read. Meta may have acted on the request; whoever called must not send it
// again without finding out. It wraps the underlying error, so Classify and Reason still see it.
type UnknownOutcomeError struct{ Err error }

func (e *UnknownOutcomeError) Error() string {
	return e.Err.Error() + " (the request was sent; whether Meta acted on it is unknown)"
}

func (e *UnknownOutcomeError) Unwrap() error { return e.Err }

// OutcomeUnknown reports whether err says the request may have been acted on although the call failed.
func OutcomeUnknown(err error) bool {
	var u *UnknownOutcomeError
	return errors.As(err, &u)
}
