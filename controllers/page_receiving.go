package controllers

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// receiving sets the Receiving condition from status.webhook, which the webhook server writes: refusals
// that last FailingAfter turn it False, well before Meta's kill switch (one hour).
func (run *pageRun) receiving() {
	p := run.p
	w := p.Status.Webhook
	if w == nil || w.RefusingSince == nil {
		failingPages.forget(run.key)
		msg := "no delivery for this Page is being refused"
		if w != nil && w.LastDeliveryTime != nil {
			msg = "the last delivery for this Page was answered 200 at " + stamp(w.LastDeliveryTime.Time)
		}
		setCondition(p, messengerv1.ConditionReceiving, metav1.ConditionTrue, messengerv1.ReasonDeliveriesAnswered, msg)
		return
	}
	since := w.RefusingSince.Time
	limit := since.Add(run.r.failingAfter())
	if run.now.Before(limit) {
		failingPages.forget(run.key)
		run.due(limit)
		setCondition(p, messengerv1.ConditionReceiving, metav1.ConditionTrue, messengerv1.ReasonWebhookRefusing, fmt.Sprintf(
			"the webhook server has been refusing this Page's deliveries since %s; Receiving turns False at %s",
			stamp(since), stamp(limit)))
		return
	}
	failingPages.set(run.key, since)
	msg := fmt.Sprintf("the webhook server has been refusing this Page's deliveries (503) since %s; Meta unsubscribes the "+
		"app after an hour of failures: look at the webhook server's logs and mmelink_status_commits_total", stamp(since))
	setCondition(p, messengerv1.ConditionReceiving, metav1.ConditionFalse, messengerv1.ReasonWebhookFailing, msg)
	if run.before[messengerv1.ConditionReceiving] != string(metav1.ConditionFalse)+"/"+messengerv1.ReasonWebhookFailing {
		run.emit(corev1.EventTypeWarning, messengerv1.ReasonWebhookFailing, "CheckWebhook", msg)
	}
}

// aggregate sets Ready from Subscribed, ProfileReady and Receiving, unless a failure of this run already
// said why the Page is not ready.
func (run *pageRun) aggregate() {
	if run.failed {
		return
	}
	p := run.p
	for _, typ := range []string{messengerv1.ConditionReceiving, messengerv1.ConditionSubscribed, messengerv1.ConditionProfileReady} {
		c := apimeta.FindStatusCondition(p.Status.Conditions, typ)
		if c == nil || c.Status == metav1.ConditionTrue {
			continue
		}
		if c.Reason == messengerv1.ReasonNoGetStartedButton {
			markStalled(p, c.Reason, c.Message) // only a person (or the bot) can add the button
		} else {
			markReconciling(p, c.Reason, c.Message)
		}
		return
	}
	markReady(p, messengerv1.ReasonSucceeded, fmt.Sprintf("app %s is subscribed to Page %s, the Page has a Get Started "+
		"button and its domains, and deliveries are answered", p.Status.AppID, p.Spec.Page.ID))
}

func (r *MessengerPageReconciler) failingAfter() time.Duration {
	if r.FailingAfter > 0 {
		return r.FailingAfter
	}
	return DefaultWebhookFailingAfter
}

// failingPages is mmelink_page_webhook_failing_seconds: for each MessengerPage whose Receiving is False,
// how long its deliveries have been refused, computed when scraped.
var failingPages = &failingCollector{since: map[types.NamespacedName]time.Time{},
	desc: prometheus.NewDesc("mmelink_page_webhook_failing_seconds",
		"How long the webhook server has been refusing the deliveries of a Page whose Receiving condition is False, "+
			"by MessengerPage.", []string{"namespace", "name"}, nil)}

type failingCollector struct {
	mu    sync.Mutex
	since map[types.NamespacedName]time.Time
	desc  *prometheus.Desc
}

func (c *failingCollector) set(k types.NamespacedName, since time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.since[k] = since
}

func (c *failingCollector) forget(k types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.since, k)
}

// Describe implements prometheus.Collector.
func (c *failingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *failingCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for k, since := range c.since {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, now.Sub(since).Seconds(), k.Namespace, k.Name)
	}
}
