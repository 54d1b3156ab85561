package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/qr"
	"github.com/mmelink/operator/internal/scheme"
)

// show prints what a person would look at: the resources, the recorded referrals and opt-ins, and each
// link's QR code; it writes the QR images to --out.
func (d *demo) show(ctx context.Context) error {
	step("kubectl get mlink,ntopic,mpage -o wide")
	if err := d.kubectlRun(ctx, "get", "mlink,ntopic,mpage", "-n", "default", "-o", "wide"); err != nil {
		return err
	}
	step("kubectl get events --field-selector involvedObject.kind=MessengerPage (what the operator changed on Meta's side)")
	if err := d.kubectlRun(ctx, "get", "events", "-n", "default", "--field-selector", "involvedObject.kind=MessengerPage",
		"-o", "custom-columns=REASON:.reason,MESSAGE:.message"); err != nil {
		return err
	}
	return d.showStatus(ctx)
}

// showStatus prints each link's status.referrals and the topic's status.optIns (without the webhook
// server's ledger, which is bookkeeping) and the topic's Registered condition.
func (d *demo) showStatus(ctx context.Context) error {
	c, err := client.New(d.env.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	var links messengerv1.MessengerLinkList
	if err := c.List(ctx, &links, client.InNamespace("default")); err != nil {
		return err
	}
	step("status.referrals of each MessengerLink")
	for _, l := range links.Items {
		r := l.Status.Referrals
		if r != nil {
			r.Ledger = nil
		}
		fmt.Printf("  %s: %s\n", l.Name, compactJSON(r))
	}
	var topic messengerv1.NotificationTopic
	if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "weekly-deals"}, &topic); err != nil {
		return err
	}
	step("status.optIns and the Registered condition of NotificationTopic weekly-deals")
	if o := topic.Status.OptIns; o != nil {
		o.Ledger = nil
	}
	fmt.Printf("  optIns: %s\n", compactJSON(topic.Status.OptIns))
	if cond := meta.FindStatusCondition(topic.Status.Conditions, messengerv1.ConditionRegistered); cond != nil {
		fmt.Printf("  Registered=%s (%s): %s\n", cond.Status, cond.Reason, cond.Message)
	}
	return d.showQR(ctx)
}

func compactJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// showQR prints each link with its QR code and writes the PNG and SVG from its ConfigMap.
func (d *demo) showQR(ctx context.Context) error {
	c, err := client.New(d.env.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	var links messengerv1.MessengerLinkList
	if err := c.List(ctx, &links, client.InNamespace("default")); err != nil {
		return err
	}
	if err := os.MkdirAll(d.out, 0o755); err != nil {
		return err
	}
	for _, l := range links.Items {
		var cm corev1.ConfigMap
		if err := c.Get(ctx, client.ObjectKey{Namespace: l.Namespace, Name: l.Status.ConfigMapName}, &cm); err != nil {
			return fmt.Errorf("reading ConfigMap of %s: %w", l.Name, err)
		}
		step(fmt.Sprintf("MessengerLink %s: %s", l.Name, l.Status.URL))
		code, err := qr.Encode(l.Status.URL, qr.Options{Size: 256, Level: qr.M, QuietZone: 2})
		if err != nil {
			return err
		}
		fmt.Println(code.Terminal())
		if png, ok := cm.BinaryData[messengerv1.ConfigMapKeyQRPNG]; ok {
			path := filepath.Join(d.out, l.Name+".png")
			if err := os.WriteFile(path, png, 0o644); err != nil {
				return err
			}
			fmt.Printf("  %s written (%d bytes), from ConfigMap %s\n", path, len(png), cm.Name)
		}
		if svg, ok := cm.Data[messengerv1.ConfigMapKeyQRSVG]; ok {
			path := filepath.Join(d.out, l.Name+".svg")
			if err := os.WriteFile(path, []byte(svg), 0o644); err != nil {
				return err
			}
			fmt.Printf("  %s written\n", path)
		}
	}
	abs, _ := filepath.Abs(d.out)
	step("Done. QR images are in " + abs)
	return nil
}

func (d *demo) kubectlRun(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, d.kubectl, append([]string{"--kubeconfig", d.kubeconfig}, args...)...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kubectl %v: %w", args, err)
	}
	return nil
}
