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

// patchStatus writes the status fields that changed from before to after, and nothing else: the webhook
// server owns other status fields, so a full update would race with it. before and after hold only the
// fields the controller owns (linkStatus), so the patch is computed without the webhook server's counts.
func patchStatus(ctx context.Context, c client.Client, obj client.Object, before, after any) error {
	data, err := statusMergePatch(before, after)
	if err != nil {
		return err
	}
	// An unchanged status costs no request: a resync of many objects stays off the API server.
	if data == nil {
		return nil
	}
	if err := c.Status().Patch(ctx, obj, client.RawPatch(types.MergePatchType, data)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("patching status: %w", err)
	}
	return nil
}

// statusMergePatch returns the JSON merge patch that turns status before into after, wrapped as the
// object's status; nil when they are the same.
func statusMergePatch(before, after any) ([]byte, error) {
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
	return slices.Concat([]byte(`{"status":`), p, []byte("}")), nil
}
