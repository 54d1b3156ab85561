// Package controllers holds the reconcilers of the operator: MessengerLink (an m.me link, its QR codes and
// snippet in a ConfigMap), NotificationTopic (an m.me/rn link and the topic's registration with Meta) and
// MessengerPage (the Page's side on Meta: subscription, profile, the webhook server's health). They never
// talk to the webhook server: the two meet only in the API server, where each owns its own status fields.
//
// Where things are, by file name: *_controller.go the reconcilers; setup.go how they are wired; claims.go
// who holds a Page and ref or title; configmap_*.go and owned_configmaps.go the ConfigMap a link or topic
// writes (content, hashing in content_hash.go, writer, publisher); statuspatch.go and owned_status.go the
// one way status is written; registration*.go a topic's opt-in request and its states; page_*.go the
// MessengerPage's parts; predicates.go, secretwatch.go and page_watch.go what wakes a reconciler.
package controllers
