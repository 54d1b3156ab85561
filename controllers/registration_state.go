package controllers

import (
	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// requestState is where the current opt-in request of a topic stands. It is stored in status.registration
// alone, so that it survives restarts, and decoded from it by requestStateOf alone (crossplane's
// create-pending, create-succeeded and create-failed annotations are the model): the rest of the
// controller reads the state, never the fields.
//
// A first attempt stores its intent (requestPending) right before the call; the answer then moves it to
// requestSent, requestScheduled or requestFailed. A call whose answer is lost after the request was sent
// (a dropped connection, a timeout, an unreadable success: graph.OutcomeUnknown) goes back to
// requestPending and is in doubt, exactly as after a crash: it is never sent again without the
// recipient's opt-in or a person's word. Transient failures that Meta certainly did not act on (it
// answered 5xx, the connection was refused) are retried with backoff. Meta's weekly refusal of a request
// after an earlier attempt is read as sent. Throttling does not count as an attempt: Meta refused the
// call unread.
type requestState int

const (
	// requestNone: no request recorded (no requestID).
	requestNone requestState = iota
	// requestPending: the intent is stored and no answer is (intentTime, no sentTime, no
	// nextAttemptTime, attempts 0). A first call is under way; found by a run that holds no answer for
	// it, the call was made by a process that stopped before writing the answer, and it is in doubt.
	requestPending
	// requestSent: Meta accepted the request (sentTime set); the opt-in that confirms it is awaited.
	requestSent
	// requestScheduled: an attempt failed transiently or was throttled, and the next one is due at
	// nextAttemptTime.
	requestScheduled
	// requestFailed: the last attempt failed for good (no sentTime, no nextAttemptTime, and an attempt
	// counted); it is sent again only when the spec, the token Secret or the request annotation changes.
	requestFailed
)

var requestStateNames = [...]string{"None", "Pending", "Sent", "Scheduled", "Failed"}

func (s requestState) String() string {
	if int(s) < len(requestStateNames) {
		return requestStateNames[s]
	}
	return "Unknown"
}

// requestStateOf decodes the state of the request st records, whatever Page, recipient and title it was
// made for (requestFor tells that). This is the one place that reads the fields in combination.
func requestStateOf(st *messengerv1.RegistrationStatus) requestState {
	switch {
	case st == nil || st.RequestID == "":
		return requestNone
	case st.SentTime != nil:
		return requestSent
	case st.IntentTime != nil && st.NextAttemptTime == nil && st.Attempts == 0:
		return requestPending
	case st.NextAttemptTime == nil:
		return requestFailed
	default:
		return requestScheduled
	}
}

// requestFor reports whether st records a request for key (see requestKey): one for another Page,
// recipient or title is no request for this spec.
func requestFor(st *messengerv1.RegistrationStatus, key string) bool {
	return st != nil && st.RequestID != "" && requestKeyOf(st.RequestID) == key
}
