package controllers

import (
	"context"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/mmelink/operator/internal/graph"
	"github.com/mmelink/operator/internal/index"
)

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
	// One cache of Secret metadata serves every controller that watches token Secrets.
	secrets, err := newSecretWatch(mgr)
	if err != nil {
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
		secrets:                 secrets,
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
		secrets:            secrets,
	}
	if err := pages.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the MessengerPage controller: %w", err)
	}
	return nil
}
