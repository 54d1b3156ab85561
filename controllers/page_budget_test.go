package controllers_test

import (
	"fmt"
	"testing"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/controllers"
)

// A burst of spec changes never spends more than the operator's budget of Messenger Profile calls (8 of
// Meta's 10 per 10 minutes): the emulator counts them. The budget lives in status, so a restarted manager
// keeps it.
func TestMessengerPageProfileBudget(t *testing.T) {
	ns := newNamespace(t)
	emu.AddPage(pageID(ns), tokenFor(ns))
	createTokenSecret(t, ns, tokenFor(ns))
	key := createPage(t, newMessengerPage(ns, "acme"))
	waitPage(t, key, pageReady)

	settled := func(p *messengerv1.MessengerPage) error {
		c := apimeta.FindStatusCondition(p.Status.Conditions, messengerv1.ConditionReady)
		if c == nil || c.ObservedGeneration != p.Generation || (c.Reason != messengerv1.ReasonSucceeded && c.Reason != messengerv1.ReasonRateLimited) {
			return fmt.Errorf("Ready = %+v", c)
		}
		return nil
	}
	for i := range 6 {
		updatePage(t, key, func(p *messengerv1.MessengerPage) { p.Spec.GetStarted.Payload = fmt.Sprintf("START_%d", i) })
		waitPage(t, key, settled)
	}
	p := waitPage(t, key, all(hasCondition(messengerv1.ConditionReady, metav1.ConditionFalse, messengerv1.ReasonRateLimited), notStalled))
	if n := profileCalls(ns); n != controllers.DefaultProfileBudget {
		t.Fatalf("the emulator received %d profile calls, want the budget, %d", n, controllers.DefaultProfileBudget)
	}
	st := p.Status.Profile
	if st == nil || st.Calls != controllers.DefaultProfileBudget || st.NextCallTime == nil ||
		!st.NextCallTime.Time.Equal(st.WindowStart.Add(controllers.DefaultProfileWindow)) {
		t.Fatalf("status.profile = %+v, want the spent budget and the window's end as next call", st)
	}

	if err := stopManager(); err != nil {
		t.Fatal(err)
	}
	if err := startManager(); err != nil {
		t.Fatal(err)
	}
	updatePage(t, key, func(p *messengerv1.MessengerPage) { p.Spec.GetStarted.Payload = "AFTER_RESTART" })
	waitPage(t, key, hasCondition(messengerv1.ConditionReady, metav1.ConditionFalse, messengerv1.ReasonRateLimited))
	consistently(t, 2*time.Second, func() error {
		if n := profileCalls(ns); n != controllers.DefaultProfileBudget {
			return fmt.Errorf("%d profile calls after a restart and another change", n)
		}
		return nil
	})
	checkNoPageToken(t, ns)
}
