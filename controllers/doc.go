// Package controllers holds the reconcilers of the operator: MessengerLink (an m.me link, its QR codes and
// snippet in a ConfigMap) and NotificationTopic (an m.me/rn link and the topic's registration with Meta).
// They share the ConfigMap writer and the condition helpers, and never talk to the webhook server: the
// two meet only in the API server, where each owns its own status fields.
package controllers
