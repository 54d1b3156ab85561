package controllers

import (
	"context"
	"fmt"

	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// syncedSource feeds a controller from a cache informer and, like the builder's For, Owns and Watches,
// makes the controller start its workers only once the handler has been given every object already in the
// cache. controller-runtime's own sources find that out by polling every 100 ms, so workers start up to
// 100 ms after they could; client-go tells it without polling (HasSyncedChecker), which this source waits on.
// On a start with many objects waiting, that is a tenth of a second less before the first is reconciled.
type syncedSource struct {
	source.Informer
	registered chan toolscache.ResourceEventHandlerRegistration
}

// newSyncedSource sends the events of inf that pass preds to h.
func newSyncedSource(inf cache.Informer, h handler.EventHandler, preds ...predicate.Predicate) *syncedSource {
	s := &syncedSource{registered: make(chan toolscache.ResourceEventHandlerRegistration, 1)}
	s.Informer = source.Informer{Informer: &registrationInformer{Informer: inf, registered: s.registered}, Handler: h, Predicates: preds}
	return s
}

// WaitForSync returns once the handler has seen every object the cache held when it was added.
func (s *syncedSource) WaitForSync(ctx context.Context) error {
	select {
	case reg := <-s.registered:
		if !toolscache.WaitFor(ctx, "", reg.HasSyncedChecker()) {
			return fmt.Errorf("waiting for the event handler to sync: %w", ctx.Err())
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the event source to start: %w", ctx.Err())
	}
}

// registrationInformer hands over the registration that source.Informer gets and drops.
type registrationInformer struct {
	cache.Informer
	registered chan<- toolscache.ResourceEventHandlerRegistration
}

func (i *registrationInformer) AddEventHandlerWithOptions(h toolscache.ResourceEventHandler, o toolscache.HandlerOptions) (toolscache.ResourceEventHandlerRegistration, error) {
	reg, err := i.Informer.AddEventHandlerWithOptions(h, o)
	if err == nil {
		i.registered <- reg
	}
	return reg, err
}
