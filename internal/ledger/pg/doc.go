// Package pgledger is the webhook server's PostgreSQL ledger (--ledger=postgres): every attributed event
// is a row, and the status of each MessengerLink and NotificationTopic is a projection of the rows.
//
// The write path (Writer) keeps the webhook server's invariant: every event answered 200 is counted
// exactly once; an event answered anything else is counted at most once, and exactly once as soon as a
// redelivery of it is answered 200. A flush is one transaction that inserts the events with ON CONFLICT
// DO NOTHING on (object UID, fingerprint, event time) and appends, for exactly the rows it inserted, delta
// rows and person hashes; nothing is ever taken back, and no row is updated per event.
//
// Counts outlive the events: the projector (one replica, elected by an advisory lock) folds the deltas
// into mmelink_counts, then writes the status of the objects that changed, at most once per interval.
// Events are kept for the retention only, in hourly partitions by event time that are dropped whole.
package pgledger
