package controllers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/graph"
	"github.com/mmelink/operator/internal/index"
	"github.com/mmelink/operator/internal/names"
)

// ownedLabels are the labels of a ConfigMap written for the named object.
func ownedLabels(nameLabel, name string) map[string]string {
	return map[string]string{messengerv1.ManagedByLabel: messengerv1.ManagedByValue, nameLabel: names.LabelValue(name)}
}

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

// configMapOwnerIndex names the index of cached ConfigMaps by the UID of the object of the kind that
// controls them, so that finding a link's ConfigMaps does not scan its whole namespace on each reconcile.
// Each controller registers the index of its own kind, so that each SetupWithManager stands alone.
func configMapOwnerIndex(kind string) string {
	return "messenger.mmelink.io/" + strings.ToLower(kind) + "-uid"
}

func indexConfigMapsOf(ctx context.Context, mgr ctrl.Manager, kind string) error {
	err := mgr.GetFieldIndexer().IndexField(ctx, &corev1.ConfigMap{}, configMapOwnerIndex(kind), func(o client.Object) []string {
		ref := metav1.GetControllerOf(o)
		if ref == nil || ref.Kind != kind || !strings.HasPrefix(ref.APIVersion, messengerv1.GroupVersion.Group+"/") {
			return nil
		}
		return []string{string(ref.UID)}
	})
	if err != nil {
		return fmt.Errorf("indexing ConfigMaps by %s: %w", kind, err)
	}
	return nil
}

// pruneConfigMaps deletes ConfigMaps that owner controls but no longer writes, after a change of
// spec.configMapName.
func pruneConfigMaps(ctx context.Context, c client.Client, owner client.Object, kind, keep string) error {
	var cms corev1.ConfigMapList
	if err := c.List(ctx, &cms, client.InNamespace(owner.GetNamespace()),
		client.MatchingFields{configMapOwnerIndex(kind): string(owner.GetUID())}); err != nil {
		return fmt.Errorf("listing ConfigMaps: %w", err)
	}
	for i := range cms.Items {
		cm := &cms.Items[i]
		if cm.Name == keep { // the index holds only ConfigMaps that owner controls
			continue
		}
		if err := c.Delete(ctx, cm); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting old ConfigMap %s: %w", cm.Name, err)
		}
	}
	return nil
}

// DefaultWorkers is how many objects of a kind are reconciled at once unless Config says otherwise.
const DefaultWorkers = 4

// Config holds the settings of the controllers.
type Config struct {
	// AppID is the Meta app ID for Send-to-Messenger snippets, and the app whose subscription
	// MessengerPages keep unless they name another.
	AppID string
	// LinkWorkers is how many MessengerLinks are reconciled at once. Default DefaultWorkers.
	LinkWorkers int
	// RecheckInterval overrides DefaultRecheckInterval (tests shorten it).
	RecheckInterval time.Duration
	// SkipNameValidation allows a second manager in one process (tests restart the manager).
	SkipNameValidation bool

	// Graph calls Meta's Graph API to register NotificationTopics. One client serves the whole manager, as
	// it holds the per-Page pauses that rate-limit answers impose. Default: graph.New().
	Graph *graph.Client
	// GraphPageRate is how many Send API calls per second the controller makes for one Page, across all
	// its topics. Default DefaultGraphPageRate; negative for no limit.
	GraphPageRate float64
	// TopicWorkers is how many NotificationTopics are reconciled at once. Default DefaultWorkers.
	TopicWorkers int
	// RegistrationBackoff schedules attempts after transient Graph API failures. Default
	// graph.DefaultBackoff() (tests shorten it).
	RegistrationBackoff graph.Backoff

	// PageRecheckInterval is how often a MessengerPage's Page is read again without a change here.
	// Default DefaultPageRecheckInterval.
	PageRecheckInterval time.Duration
	// PageFailingAfter is how long the webhook server refuses a Page's deliveries before its Receiving
	// condition turns False. Default DefaultWebhookFailingAfter.
	PageFailingAfter time.Duration
	// PageProfileBackoff spaces Messenger Profile calls after Meta's rate limit refused one. Default
	// DefaultProfileBackoff (tests shorten it).
	PageProfileBackoff graph.Backoff
}

// The role generated from the markers is the manager's without its bundled webhook receiver (the install
// runs it with --webhook-bind-address=0). What the receiver adds, the writes of token Secrets, is in
// config/bundled-webhook, so that a manager that does not receive cannot write Secrets.

// Setup registers the indexes and controllers with mgr. The manager's cache must use index.CacheOptions.
func Setup(ctx context.Context, mgr ctrl.Manager, cfg Config) error {
	if err := index.Setup(ctx, mgr.GetFieldIndexer()); err != nil {
		return err
	}
	links := &MessengerLinkReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Recorder:                mgr.GetEventRecorder("mmelink-controller"),
		AppID:                   cfg.AppID,
		RecheckInterval:         cfg.RecheckInterval,
		MaxConcurrentReconciles: cfg.LinkWorkers,
		SkipNameValidation:      cfg.SkipNameValidation,
	}
	if err := links.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the MessengerLink controller: %w", err)
	}
	gc := cfg.Graph
	if gc == nil {
		var err error
		if gc, err = graph.New(); err != nil {
			return fmt.Errorf("creating the Graph API client: %w", err)
		}
	}
	topics := &NotificationTopicReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Recorder:                mgr.GetEventRecorder("mmelink-controller"),
		Graph:                   gc,
		PageRate:                cfg.GraphPageRate,
		Backoff:                 cfg.RegistrationBackoff,
		RecheckInterval:         cfg.RecheckInterval,
		MaxConcurrentReconciles: cfg.TopicWorkers,
		SkipNameValidation:      cfg.SkipNameValidation,
	}
	if err := topics.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the NotificationTopic controller: %w", err)
	}
	pages := &MessengerPageReconciler{
		Client:             mgr.GetClient(),
		APIReader:          mgr.GetAPIReader(),
		Recorder:           mgr.GetEventRecorder("mmelink-controller"),
		Graph:              gc,
		AppID:              cfg.AppID,
		RecheckInterval:    cfg.PageRecheckInterval,
		FailingAfter:       cfg.PageFailingAfter,
		ProfileBackoff:     cfg.PageProfileBackoff,
		SkipNameValidation: cfg.SkipNameValidation,
	}
	if err := pages.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the MessengerPage controller: %w", err)
	}
	return nil
}
