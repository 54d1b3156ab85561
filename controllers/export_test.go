package controllers

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// PatchTopicStatus writes t's status as the topic controller does: from read, the topic as it was read,
// with the resourceVersion read has as precondition.
func PatchTopicStatus(ctx context.Context, c client.Client, read, t *messengerv1.NotificationTopic) error {
	return newStatusPatcher(c, read, topicStatusOf, true).patch(ctx, t)
}
