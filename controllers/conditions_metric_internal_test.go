package controllers

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/types"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// The gauge counts objects per condition, never names them: two stalled links in one namespace are one
// series of value 2, and an object forgotten (deleted) leaves the counts.
func TestConditionObjectsCountsWithoutNames(t *testing.T) {
	c := &conditionCollector{by: map[objectKey][]conditionLabels{}, desc: conditionObjects.desc}
	stalled := func() *messengerv1.MessengerLink {
		l := &messengerv1.MessengerLink{}
		markStalled(l, messengerv1.ReasonRefConflict, "held by another link")
		return l
	}
	ready := &messengerv1.NotificationTopic{}
	markReady(ready, messengerv1.ReasonConfirmed, "confirmed")

	c.observe(kindLink, types.NamespacedName{Namespace: "shop", Name: "a"}, stalled())
	c.observe(kindLink, types.NamespacedName{Namespace: "shop", Name: "b"}, stalled())
	c.observe(kindTopic, types.NamespacedName{Namespace: "shop", Name: "t"}, ready)
	c.observe(kindLink, types.NamespacedName{Namespace: "shop", Name: "gone"}, stalled())
	c.forget(kindLink, types.NamespacedName{Namespace: "shop", Name: "gone"})

	want := `
# HELP mmelink_condition_objects Objects by kind, namespace and condition (type, status, reason), as the manager last wrote their status.
# TYPE mmelink_condition_objects gauge
mmelink_condition_objects{kind="MessengerLink",namespace="shop",reason="RefConflict",status="False",type="Ready"} 2
mmelink_condition_objects{kind="MessengerLink",namespace="shop",reason="RefConflict",status="True",type="Stalled"} 2
mmelink_condition_objects{kind="NotificationTopic",namespace="shop",reason="Confirmed",status="True",type="Ready"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}

	// Observing an object again replaces what it had: the link that recovers leaves the Stalled series.
	l := stalled()
	markReady(l, messengerv1.ReasonSucceeded, "written")
	c.observe(kindLink, types.NamespacedName{Namespace: "shop", Name: "b"}, l)
	if got := testutil.ToFloat64(gaugeOf(t, c, `kind="MessengerLink",namespace="shop",reason="RefConflict",status="True",type="Stalled"`)); got != 1 {
		t.Errorf("stalled links after one recovered = %v, want 1", got)
	}
}

// gaugeOf returns the one series of c whose labels print as labels.
func gaugeOf(t *testing.T, c prometheus.Collector, labels string) prometheus.Collector {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var parts []string
			for _, lp := range m.GetLabel() {
				parts = append(parts, lp.GetName()+`="`+lp.GetValue()+`"`)
			}
			if strings.Join(parts, ",") == labels {
				return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x"}, m.GetGauge().GetValue)
			}
		}
	}
	t.Fatalf("no series {%s}", labels)
	return nil
}
