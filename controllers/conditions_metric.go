package controllers

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
)

// Kinds, the values of the kind label of mmelink_condition_objects.
const (
	kindLink  = "MessengerLink"
	kindTopic = "NotificationTopic"
	kindPage  = "MessengerPage"
)

// conditionObjects is mmelink_condition_objects: how many objects of a kind in a namespace have a
// condition of a type, status and reason, as this manager last wrote them. Alerts on Stalled objects
// read it. Counts, never an object's name: the labels take the operator's own constants (kinds, condition
// types, reasons) and namespaces, so the series stay few however many links there are. Only the leader
// reconciles, so only the leader reports.
var conditionObjects = &conditionCollector{
	by: map[objectKey][]conditionLabels{},
	desc: prometheus.NewDesc("mmelink_condition_objects",
		"Objects by kind, namespace and condition (type, status, reason), as the manager last wrote their status.",
		[]string{"kind", "namespace", "type", "status", "reason"}, nil),
}

type objectKey struct {
	kind string
	types.NamespacedName
}

type conditionLabels struct{ typ, status, reason string }

type conditionCollector struct {
	mu   sync.Mutex
	by   map[objectKey][]conditionLabels
	desc *prometheus.Desc
}

// observe records the conditions obj has after a reconcile.
func (c *conditionCollector) observe(kind string, key types.NamespacedName, obj conditioned) {
	conds := obj.GetConditions()
	ls := make([]conditionLabels, 0, len(conds))
	for _, cd := range conds {
		ls = append(ls, conditionLabels{typ: cd.Type, status: string(cd.Status), reason: cd.Reason})
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.by[objectKey{kind, key}] = ls
}

// forget drops an object that is gone or being deleted.
func (c *conditionCollector) forget(kind string, key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.by, objectKey{kind, key})
}

// Describe implements prometheus.Collector.
func (c *conditionCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *conditionCollector) Collect(ch chan<- prometheus.Metric) {
	type series struct {
		kind, namespace string
		conditionLabels
	}
	counts := map[series]int{}
	c.mu.Lock()
	for k, ls := range c.by {
		for _, l := range ls {
			counts[series{k.kind, k.Namespace, l}]++
		}
	}
	c.mu.Unlock()
	for s, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), s.kind, s.namespace, s.typ, s.status, s.reason)
	}
}

// MetricCollectors returns the collectors this package registers with controller-runtime's registry, so
// that tests can list the metric names the manager exposes (the dashboard's and alerts' queries).
func MetricCollectors() []prometheus.Collector {
	return []prometheus.Collector{renders, failingPages, conditionObjects}
}
