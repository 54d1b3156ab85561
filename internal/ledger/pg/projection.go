package pgledger

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/sketch"
	"github.com/mmelink/operator/internal/status"
)

// ledgerObject is a row of mmelink_objects.
type ledgerObject struct {
	uid, kind, namespace, name string
	people                     []byte
}

// project writes the status of the dirty objects, and forgets those that are written, unchanged or gone.
func (p *Projector) project(ctx context.Context, dirty map[string]bool) error {
	uids := make([]string, 0, len(dirty))
	for u := range dirty {
		uids = append(uids, u)
	}
	objs, counts, tokens, err := p.load(ctx, uids)
	if err != nil {
		return err
	}
	today := p.Now().UTC().Truncate(24 * time.Hour)
	var firstErr error
	for _, o := range objs {
		if err := p.projectOne(ctx, o, counts[o.uid], tokens[o.uid], today); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		delete(dirty, o.uid)
	}
	// UIDs with no object row (none should exist) would stay dirty forever.
	for _, u := range uids {
		if _, ok := objs[u]; !ok {
			delete(dirty, u)
		}
	}
	return firstErr
}

func (p *Projector) load(ctx context.Context, uids []string) (map[string]ledgerObject, map[string][]countRow, map[string]tokenCounts, error) {
	objs := map[string]ledgerObject{}
	counts := map[string][]countRow{}
	tokens := map[string]tokenCounts{}
	// One snapshot for all three reads, so that a status never mixes two moments.
	err := pgx.BeginTxFunc(ctx, p.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT uid::text, kind, namespace, name, people FROM mmelink_objects WHERE uid = ANY($1::uuid[])`, uids)
		if err != nil {
			return err
		}
		var o ledgerObject
		if _, err := pgx.ForEachRow(rows, []any{&o.uid, &o.kind, &o.namespace, &o.name, &o.people}, func() error {
			objs[o.uid] = o
			return nil
		}); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT object_uid::text, day, kind, source, ref, n, first_time, last_time FROM mmelink_counts
			WHERE object_uid = ANY($1::uuid[]) ORDER BY object_uid, first_time, kind, source, ref`, uids)
		if err != nil {
			return err
		}
		var uid string
		var r countRow
		if _, err := pgx.ForEachRow(rows, []any{&uid, &r.day, &r.kind, &r.source, &r.ref, &r.n, &r.firstTime, &r.lastTime}, func() error {
			counts[uid] = append(counts[uid], r)
			return nil
		}); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT object_uid::text, count(*), count(*) FILTER (WHERE status = 'active'),
			count(*) FILTER (WHERE status = 'stopped') FROM mmelink_tokens WHERE object_uid = ANY($1::uuid[]) GROUP BY 1`, uids)
		if err != nil {
			return err
		}
		var tc tokenCounts
		_, err = pgx.ForEachRow(rows, []any{&uid, &tc.total, &tc.active, &tc.stopped}, func() error {
			tokens[uid] = tc
			return nil
		})
		return err
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("reading the ledger's counts: %w", clean(err))
	}
	return objs, counts, tokens, nil
}

// projectOne writes one object's status when it differs. The patch is a JSON patch that tests the
// object's UID (a recreated object is not given its predecessor's counts) and replaces the one status
// field the webhook server owns, as a whole: nothing of the embedded mode's ledger or token Secrets
// survives a switch to this mode, and no other field is touched.
func (p *Projector) projectOne(ctx context.Context, o ledgerObject, counts []countRow, tc tokenCounts, today time.Time) error {
	key := types.NamespacedName{Namespace: o.namespace, Name: o.name}
	var (
		obj   client.Object
		path  string
		value any
		same  bool
	)
	switch status.Kind(o.kind) {
	case status.KindTopic:
		t := &messengerv1.NotificationTopic{}
		if err := p.Client.Get(ctx, key, t); err != nil {
			return ignoreGone(err)
		}
		st := topicStats(counts, tc, t.Status.OptIns, t.Status.Registration)
		obj, path, value, same = t, "/status/optIns", st, apiequality.Semantic.DeepEqual(st, t.Status.OptIns)
	default:
		l := &messengerv1.MessengerLink{}
		if err := p.Client.Get(ctx, key, l); err != nil {
			return ignoreGone(err)
		}
		var people *sketch.HLL
		if len(o.people) > 0 {
			people = sketch.New()
			if people.UnmarshalBinary(o.people) != nil {
				people = nil
			}
		}
		st := linkStats(counts, people, today)
		p.metrics.set(o.namespace, o.name, o.uid, st)
		obj, path, value, same = l, "/status/referrals", st, apiequality.Semantic.DeepEqual(st, l.Status.Referrals)
	}
	if string(obj.GetUID()) != o.uid {
		return nil // a newer object of that name: these counts are its predecessor's
	}
	if same || apiequality.Semantic.DeepEqual(p.written[o.uid], value) {
		return nil
	}
	patch, err := json.Marshal([]map[string]any{
		{"op": "test", "path": "/metadata/uid", "value": o.uid},
		{"op": "add", "path": path, "value": value},
	})
	if err != nil {
		return fmt.Errorf("encoding the status patch: %w", err)
	}
	if err := p.Client.Status().Patch(ctx, obj, client.RawPatch(types.JSONPatchType, patch)); err != nil {
		return fmt.Errorf("writing the status of %s %s: %w", o.kind, key, ignoreGone(err))
	}
	p.written[o.uid] = value
	return nil
}

func ignoreGone(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
