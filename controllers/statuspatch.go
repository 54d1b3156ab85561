package controllers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// FieldManager is the name the controllers write under, so that an object's managedFields tell their
// fields from the webhook server's (webhookserver.FieldManager).
const FieldManager = "mmelink-controller"

// statusPatcher is the one way the controllers write status (Flux's SerialPatcher is the model). The
// webhook server writes other fields of the same status (a link's referrals, a topic's optIns, a
// MessengerPage's webhook) at any time, so a controller never sends the whole status: owned copies out of
// the object only the fields the controller writes, and each write is the JSON merge patch from what was
// last read or written to what the object holds now. A field the controller does not own is then never
// in a patch, whatever the object holds, and a field it clears is removed with null.
//
// A patcher serves one reconcile, and may write several times in it (a topic stores its intent before
// a Send API call, then the answer): each write starts from the last one. With lock, every write carries
// the resourceVersion the object was read or last written at, and fails with a conflict when anyone
// wrote since; the topic controller needs that, as it decides on calls from what status says.
type statusPatcher[O client.Object, S any] struct {
	c     client.Client
	owned func(O) S
	lock  bool
	base  S
}

// newStatusPatcher starts a patcher on obj as read. owned must copy what it returns (conditions are
// edited in place).
func newStatusPatcher[O client.Object, S any](c client.Client, obj O, owned func(O) S, lock bool) *statusPatcher[O, S] {
	return &statusPatcher[O, S]{c: c, owned: owned, lock: lock, base: owned(obj)}
}

// patch writes what changed in obj's owned status since the last read or write; nothing when nothing
// did (a resync of many objects stays off the API server). obj then holds the object as stored.
func (p *statusPatcher[O, S]) patch(ctx context.Context, obj O) error {
	version := ""
	if p.lock {
		version = obj.GetResourceVersion()
	}
	data, err := statusMergePatch(p.base, p.owned(obj), version)
	if err != nil || data == nil {
		return err
	}
	if err := p.c.Status().Patch(ctx, obj, client.RawPatch(types.MergePatchType, data), client.FieldOwner(FieldManager)); err != nil {
		return fmt.Errorf("patching status: %w", err)
	}
	p.base = p.owned(obj)
	return nil
}

// statusMergePatch returns the JSON merge patch that turns status before into after, wrapped as the
// object's status, with resourceVersion as precondition unless it is ""; nil when they are the same.
func statusMergePatch(before, after any, resourceVersion string) ([]byte, error) {
	b, err := json.Marshal(before)
	if err != nil {
		return nil, fmt.Errorf("encoding status: %w", err)
	}
	a, err := json.Marshal(after)
	if err != nil {
		return nil, fmt.Errorf("encoding status: %w", err)
	}
	if bytes.Equal(a, b) {
		return nil, nil
	}
	p, err := jsonpatch.CreateMergePatch(b, a)
	if err != nil {
		return nil, fmt.Errorf("computing status patch: %w", err)
	}
	if string(p) == "{}" {
		return nil, nil
	}
	var meta []byte
	if resourceVersion != "" {
		if meta, err = json.Marshal(resourceVersion); err != nil {
			return nil, fmt.Errorf("encoding resourceVersion: %w", err)
		}
		meta = slices.Concat([]byte(`"metadata":{"resourceVersion":`), meta, []byte("},"))
	}
	return slices.Concat([]byte("{"), meta, []byte(`"status":`), p, []byte("}")), nil
}
