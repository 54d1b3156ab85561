package observability

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	lua "github.com/yuin/gopher-lua"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/graph"
)

const argocdDir = "../../config/argocd"

// Argo CD's health statuses and the kstatus status each stands for. kstatus's Terminating is Progressing
// in Argo CD, as Argo CD itself reports an object pending deletion.
var kstatusOf = map[string][]status.Status{
	"Healthy":     {status.CurrentStatus},
	"Progressing": {status.InProgressStatus, status.TerminatingStatus},
	"Degraded":    {status.FailedStatus},
}

// TestHealthAgreesWithKstatus runs config/argocd/health.lua as Argo CD does (the object as the global obj,
// the returned table's status) and kstatus on every fixture: both must give the expected health.
func TestHealthAgreesWithKstatus(t *testing.T) {
	script, err := os.ReadFile(filepath.Join(argocdDir, "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		fixture string
		want    string
	}{
		{"link-ready", "Healthy"},
		{"link-new", "Progressing"},
		{"link-stale-generation", "Progressing"},
		{"link-reconciling", "Progressing"},
		{"link-ref-conflict", "Degraded"},
		{"link-page-not-ready", "Healthy"}, // PageReady=False: the link is written, its Page is not ready
		{"link-page-not-allowed", "Degraded"},
		{"link-deleting", "Progressing"},
		{"topic-confirmed", "Healthy"},
		{"topic-awaiting", "Progressing"},
		{"topic-request-in-doubt", "Degraded"},
		{"topic-secret-not-found", "Progressing"},
		{"topic-invalid-token", "Degraded"},
		{"page-ready", "Healthy"},
		{"page-webhook-failing", "Progressing"},
		{"page-no-get-started", "Degraded"},
		{"page-rate-limited", "Progressing"},
		{"page-conflict", "Degraded"},
	}
	files, _ := filepath.Glob(filepath.Join(argocdDir, "testdata", "*.yaml"))
	if len(files) != len(tests) {
		t.Errorf("%d fixtures in testdata, %d in this table: every fixture needs its expected health", len(files), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			u := readFixture(t, tt.fixture)
			checkLikeControllers(t, u)

			res, err := status.Compute(u)
			if err != nil {
				t.Fatalf("kstatus: %v", err)
			}
			if !slices.Contains(kstatusOf[tt.want], res.Status) {
				t.Errorf("kstatus says %s (%s), want %v", res.Status, res.Message, kstatusOf[tt.want])
			}
			got, msg := runHealth(t, string(script), u.Object)
			if got != tt.want {
				t.Errorf("health.lua says %s (%s), want %s", got, msg, tt.want)
			}
			if msg == "" {
				t.Error("health.lua gives no message")
			}
		})
	}
}

func readFixture(t *testing.T, name string) *unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(argocdDir, "testdata", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil { // numbers as int64, as a client reads them
		t.Fatal(err)
	}
	return u
}

// knownReasons are the reasons the controllers write: theirs and Graph API's classification.
var knownReasons = []string{
	messengerv1.ReasonSucceeded, messengerv1.ReasonProgressing, messengerv1.ReasonInvalidSpec, messengerv1.ReasonRefConflict,
	messengerv1.ReasonTopicConflict, messengerv1.ReasonConfigMapConflict, messengerv1.ReasonRenderFailed,
	messengerv1.ReasonWriteFailed, messengerv1.ReasonSecretNotFound, messengerv1.ReasonAwaitingConfirmation,
	messengerv1.ReasonConfirmed, messengerv1.ReasonRequestInDoubt, messengerv1.ReasonRequestLimitReached,
	messengerv1.ReasonRateLimited, messengerv1.ReasonRequestFailed, messengerv1.ReasonPageNotAllowed,
	messengerv1.ReasonPageConflict, messengerv1.ReasonNoGetStartedButton, messengerv1.ReasonWebhookFailing,
	messengerv1.ReasonDeliveriesAnswered, messengerv1.ReasonNotSubscribed, graph.ReasonInvalidToken,
}

// checkLikeControllers fails a fixture that the controllers could not have written: the rules of
// controllers/conditions.go (Reconciling and Stalled never together, each with Ready=False of the same
// reason; conditions stamped with the generation status describes) and reasons they use.
func checkLikeControllers(t *testing.T, u *unstructured.Unstructured) {
	t.Helper()
	// The fixture decodes strictly into its API type: no field the types lack.
	b, err := u.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var typed interface {
		GetConditions() []metav1.Condition
	}
	var observed int64
	switch u.GetKind() {
	case "MessengerLink":
		o := &messengerv1.MessengerLink{}
		typed, err = o, yaml.UnmarshalStrict(b, o)
		observed = o.Status.ObservedGeneration
	case "NotificationTopic":
		o := &messengerv1.NotificationTopic{}
		typed, err = o, yaml.UnmarshalStrict(b, o)
		observed = o.Status.ObservedGeneration
	case "MessengerPage":
		o := &messengerv1.MessengerPage{}
		typed, err = o, yaml.UnmarshalStrict(b, o)
		observed = o.Status.ObservedGeneration
	default:
		t.Fatalf("kind %s is none of mmelink's", u.GetKind())
	}
	if err != nil {
		t.Fatalf("fixture does not match its API type: %v", err)
	}
	st := struct {
		ObservedGeneration int64
		Conditions         []metav1.Condition
	}{observed, typed.GetConditions()}
	byType := map[string]metav1.Condition{}
	for _, c := range st.Conditions {
		byType[c.Type] = c
		if c.ObservedGeneration != st.ObservedGeneration {
			t.Errorf("condition %s describes generation %d, status %d", c.Type, c.ObservedGeneration, st.ObservedGeneration)
		}
		if !slices.Contains(knownReasons, c.Reason) {
			t.Errorf("condition %s has reason %q, which no controller writes", c.Type, c.Reason)
		}
	}
	rec, recOK := byType[messengerv1.ConditionReconciling]
	stl, stlOK := byType[messengerv1.ConditionStalled]
	if recOK && stlOK {
		t.Error("Reconciling and Stalled together: markReconciling and markStalled each remove the other")
	}
	for _, c := range []struct {
		cond metav1.Condition
		ok   bool
	}{{rec, recOK}, {stl, stlOK}} {
		if !c.ok {
			continue
		}
		if r := byType[messengerv1.ConditionReady]; r.Status != metav1.ConditionFalse || r.Reason != c.cond.Reason {
			t.Errorf("%s=%s (%s) with Ready=%s (%s): the controllers set Ready=False with the same reason",
				c.cond.Type, c.cond.Status, c.cond.Reason, r.Status, r.Reason)
		}
	}
	if ready, ok := byType[messengerv1.ConditionReady]; ok && ready.Status == metav1.ConditionTrue && (recOK || stlOK) {
		t.Error("Ready=True beside Reconciling or Stalled: markReady removes both")
	}
	if u.GetAPIVersion() != messengerv1.GroupVersion.String() {
		t.Errorf("apiVersion %s, want %s", u.GetAPIVersion(), messengerv1.GroupVersion)
	}
}

// runHealth evaluates the script as Argo CD does: obj is the object as a Lua table; the script returns a
// table with status and message.
func runHealth(t *testing.T, script string, obj map[string]any) (healthStatus, message string) {
	t.Helper()
	L := lua.NewState(lua.Options{SkipOpenLibs: false})
	defer L.Close()
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		t.Fatalf("health.lua: %v", err)
	}
	ret, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("health.lua returned %s, want a table", L.Get(-1).Type())
	}
	return lua.LVAsString(ret.RawGetString("status")), lua.LVAsString(ret.RawGetString("message"))
}

// toLua converts a decoded JSON value into Lua values, as Argo CD does: objects and arrays to tables
// (arrays from index 1), numbers to numbers.
func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case map[string]any:
		tbl := L.NewTable()
		for k, e := range v {
			tbl.RawSetString(k, toLua(L, e))
		}
		return tbl
	case []any:
		tbl := L.NewTable()
		for _, e := range v {
			tbl.Append(toLua(L, e))
		}
		return tbl
	case string:
		return lua.LString(v)
	case bool:
		return lua.LBool(v)
	case int64:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case nil:
		return lua.LNil
	}
	return lua.LString(fmt.Sprint(v)) // no other type comes out of decoded JSON
}

// TestArgoCDConfigMapHoldsTheScript: config/argocd/argocd-cm.yaml, what users merge into argocd-cm, has
// health.lua unchanged under the key Argo CD reads for each kind (resource.customizations.health.<group>_<Kind>).
func TestArgoCDConfigMapHoldsTheScript(t *testing.T) {
	script, err := os.ReadFile(filepath.Join(argocdDir, "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(argocdDir, "argocd-cm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(b, &cm); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"MessengerLink", "NotificationTopic", "MessengerPage"} {
		key := "resource.customizations.health." + messengerv1.GroupVersion.Group + "_" + kind
		if cm.Data[key] != string(script) {
			t.Errorf("argocd-cm.yaml: %s is not health.lua as it is", key)
		}
		delete(cm.Data, key)
	}
	if len(cm.Data) != 0 {
		t.Errorf("argocd-cm.yaml has other keys: %v", cm.Data)
	}
}
