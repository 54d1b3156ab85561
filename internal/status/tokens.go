package status

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/names"
	"github.com/mmelink/operator/internal/tally"
)

// Opt-in tokens live in Secrets owned by their NotificationTopic: a token is what a later send addresses,
// so it is kept like a credential, never in status, logs or events. The Secrets are shards filled one
// after the other; a shard takes at most MaxTokensPerShard tokens, which keeps it far below the 1 MiB
// object limit whatever Meta puts in a token. Each shard carries its own counts in annotations, written
// in the same update as its data, so the topic's counts are a sum over shards and every redelivery
// converges to the same numbers: a token is a key, stored once.

const (
	// MaxTokensPerShard bounds a shard: 1,500 records of at most ~600 bytes is under 1 MiB.
	MaxTokensPerShard = 1500
	activeAnnotation  = "messenger.mmelink.io/active"
	stoppedAnnotation = "messenger.mmelink.io/stopped"
)

// tokenRecord is what a shard stores per token.
type tokenRecord struct {
	Token           string `json:"token"`
	Status          string `json:"status"`
	EventTime       int64  `json:"eventTime"` // ms of the event that set Status; older events are ignored
	OptInTime       int64  `json:"optInTime,omitempty"`
	Frequency       string `json:"frequency,omitempty"`
	Timezone        string `json:"timezone,omitempty"`
	Ref             string `json:"ref,omitempty"`
	Source          string `json:"source,omitempty"`
	UserTokenStatus string `json:"userTokenStatus,omitempty"`
	TokenExpiry     int64  `json:"tokenExpiry,omitempty"`
}

// tokenKey is the Secret data key of a token: a digest, so that keys are valid and of fixed size.
func tokenKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:16])
}

// shardName names the n-th shard of a topic.
func shardName(topic string, n int) string { return fmt.Sprintf("%s-optins-%d", topic, n) }

// tokenCounts are the topic's derived counts, and the bytes of the shards written.
type tokenCounts struct {
	total, active, stopped int64
	secrets                []string
	bytesWritten           int
}

// storeTokens writes the opt-ins, stops and resumes of items into topic t's shards and returns the
// counts over all shards. Each shard is updated with an optimistic lock; a conflict is returned as is,
// and the whole commit is tried again on fresh objects.
func storeTokens(ctx context.Context, c client.Client, r client.Reader, t *messengerv1.NotificationTopic, items []Item, perShard int) (tokenCounts, error) {
	shards, err := listShards(ctx, r, t)
	if err != nil {
		return tokenCounts{}, err
	}
	events := tokenEvents(items)
	changed := map[int]bool{}
	for _, ev := range events {
		key := tokenKey(ev.OptIn.Token)
		n, rec := findToken(shards, key)
		if rec == nil {
			// New token. A stop for a token never seen is stored too (stopped), so that a late opt-in
			// is ordered behind it.
			n = len(shards) - 1
			if n < 0 || len(shards[n].Data) >= perShard {
				shard, err := newShard(c.Scheme(), t, len(shards))
				if err != nil {
					return tokenCounts{}, err
				}
				shards = append(shards, shard)
				n = len(shards) - 1
			}
			rec = &tokenRecord{Token: ev.OptIn.Token}
		} else if ms := ev.Time.UnixMilli(); ms < rec.EventTime {
			continue // an older event arriving late: the stored state is newer
		}
		apply := *rec
		updateRecord(&apply, ev)
		data, err := json.Marshal(apply)
		if err != nil {
			return tokenCounts{}, fmt.Errorf("encoding token record: %w", err)
		}
		if shards[n].Data == nil {
			shards[n].Data = map[string][]byte{}
		}
		shards[n].Data[key] = data
		changed[n] = true
	}
	written := 0
	for n := range changed {
		if err := saveShard(ctx, c, &shards[n]); err != nil {
			return tokenCounts{}, err
		}
		for _, v := range shards[n].Data {
			written += len(v) + 32 // the value and its key
		}
	}
	tc := countShards(shards)
	tc.bytesWritten = written
	return tc, nil
}

// tokenEvents returns the items' notification opt-ins that carry a token, oldest first.
func tokenEvents(items []Item) []*delivery.Event {
	var evs []*delivery.Event
	for i := range items {
		ev := &items[i].Event
		if tally.SetsToken(ev) {
			evs = append(evs, ev)
		}
	}
	sort.SliceStable(evs, func(a, b int) bool { return evs[a].Time.Before(evs[b].Time) })
	return evs
}

func updateRecord(rec *tokenRecord, ev *delivery.Event) {
	o := ev.OptIn
	rec.EventTime = ev.Time.UnixMilli()
	rec.Status = tally.TokenState(ev)
	if tally.NewOptIn(ev) && rec.OptInTime == 0 {
		rec.OptInTime = rec.EventTime
	}
	setIf := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	setIf(&rec.Frequency, o.Frequency)
	setIf(&rec.Timezone, o.Timezone)
	setIf(&rec.Ref, o.Ref)
	setIf(&rec.Source, o.Source)
	setIf(&rec.UserTokenStatus, o.UserTokenStatus)
	if !o.TokenExpiry.IsZero() {
		rec.TokenExpiry = o.TokenExpiry.UnixMilli()
	}
}

func listShards(ctx context.Context, r client.Reader, t *messengerv1.NotificationTopic) ([]corev1.Secret, error) {
	var list corev1.SecretList
	if err := r.List(ctx, &list, client.InNamespace(t.Namespace), client.MatchingLabels{
		messengerv1.ManagedByLabel: messengerv1.ManagedByValue, messengerv1.TopicNameLabel: names.LabelValue(t.Name),
	}); err != nil {
		return nil, fmt.Errorf("listing opt-in Secrets: %w", err)
	}
	var shards []corev1.Secret
	for _, s := range list.Items {
		if metav1.IsControlledBy(&s, t) {
			shards = append(shards, s)
		}
	}
	sort.Slice(shards, func(a, b int) bool { return shardIndex(shards[a].Name) < shardIndex(shards[b].Name) })
	return shards, nil
}

func shardIndex(name string) int {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '-' {
			n, _ := strconv.Atoi(name[i+1:])
			return n
		}
	}
	return 0
}

func findToken(shards []corev1.Secret, key string) (int, *tokenRecord) {
	for n := range shards {
		if raw, ok := shards[n].Data[key]; ok {
			var rec tokenRecord
			if json.Unmarshal(raw, &rec) == nil {
				return n, &rec
			}
		}
	}
	return -1, nil
}

// newShard is the n-th shard of topic t, not yet created, owned by t (controllerutil, as the controllers
// own their ConfigMaps) so that it goes with the topic.
func newShard(scheme *runtime.Scheme, t *messengerv1.NotificationTopic, n int) (corev1.Secret, error) {
	s := corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: t.Namespace, Name: shardName(t.Name, n),
			Labels: map[string]string{
				messengerv1.ManagedByLabel: messengerv1.ManagedByValue, messengerv1.TopicNameLabel: names.LabelValue(t.Name),
			},
		},
		Type: corev1.SecretTypeOpaque,
	}
	if err := controllerutil.SetControllerReference(t, &s, scheme); err != nil {
		return corev1.Secret{}, fmt.Errorf("owning opt-in Secret %s: %w", s.Name, err)
	}
	return s, nil
}

// saveShard creates a new shard or updates one with its resourceVersion as precondition, after
// recounting its annotations.
func saveShard(ctx context.Context, c client.Client, s *corev1.Secret) error {
	var active, stopped int
	for _, raw := range s.Data {
		var rec tokenRecord
		if json.Unmarshal(raw, &rec) != nil {
			continue
		}
		if rec.Status == tally.TokenStopped {
			stopped++
		} else {
			active++
		}
	}
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations[activeAnnotation] = strconv.Itoa(active)
	s.Annotations[stoppedAnnotation] = strconv.Itoa(stopped)
	if s.ResourceVersion == "" {
		if err := c.Create(ctx, s); err != nil {
			if apierrors.IsAlreadyExists(err) {
				// Another replica created the shard first: start over on fresh objects, as for a conflict.
				return apierrors.NewConflict(corev1.Resource("secrets"), s.Name, err)
			}
			return fmt.Errorf("creating opt-in Secret %s: %w", s.Name, err)
		}
		return nil
	}
	if err := c.Update(ctx, s); err != nil {
		return fmt.Errorf("updating opt-in Secret %s: %w", s.Name, err)
	}
	return nil
}

func countShards(shards []corev1.Secret) tokenCounts {
	var tc tokenCounts
	for _, s := range shards {
		a, _ := strconv.ParseInt(s.Annotations[activeAnnotation], 10, 64)
		st, _ := strconv.ParseInt(s.Annotations[stoppedAnnotation], 10, 64)
		tc.active += a
		tc.stopped += st
		tc.total += a + st
		tc.secrets = append(tc.secrets, s.Name)
	}
	return tc
}
