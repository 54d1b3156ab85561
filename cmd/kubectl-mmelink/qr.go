package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/qr"
)

func newQRCmd(k *kube) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "qr [link|topic] NAME [--output FILE.png|FILE.svg]",
		Short: "Show a link's QR code in the terminal, or write its PNG or SVG from the ConfigMap",
		Long: `Show the QR code of a MessengerLink (or, with the kind topic, a NotificationTopic's m.me/rn link) in the
terminal, drawn with half-block characters in black on white so that a phone scans it from any terminal
theme, followed by the URL it holds.

The URL is the one the controller wrote into the object's ConfigMap (key url), encoded with the object's
spec.qr error correction and quiet zone, as the controller encodes it. With --output, the image the
controller rendered is written from the ConfigMap (binaryData qr.png or data qr.svg, chosen by the file's
extension) instead: the exact file to print.`,
		Example: `  kubectl mmelink qr summer-poster
  kubectl mmelink qr summer-poster --output poster.png
  kubectl mmelink qr topic weekly-deals --output deals.svg`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, name := kindLink, args[0]
			if len(args) == 2 {
				var ok bool
				if kind, ok = parseKind(args[0]); !ok || kind == kindPage {
					return usagef("qr takes a link or a topic, not %q", args[0])
				}
				name = args[1]
			}
			return runQR(cmd, k, kind, name, output)
		},
	}
	cmd.Flags().StringVar(&output, "output", "", "Write the ConfigMap's image to this file instead: .png or .svg.")
	return cmd
}

func runQR(cmd *cobra.Command, k *kube, kind, name, output string) error {
	c, ns, err := k.ClientIn()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	var (
		spec   *messengerv1.QRSpec
		cmName string
		what   = fmt.Sprintf("MessengerLink %s/%s", ns, name)
	)
	if kind == kindTopic {
		what = fmt.Sprintf("NotificationTopic %s/%s", ns, name)
		t := &messengerv1.NotificationTopic{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, t); err != nil {
			return fmt.Errorf("reading %s: %w", what, err)
		}
		spec, cmName = t.Spec.QR, t.Status.ConfigMapName
	} else {
		l := &messengerv1.MessengerLink{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, l); err != nil {
			return fmt.Errorf("reading %s: %w", what, err)
		}
		spec, cmName = l.Spec.QR, l.Status.ConfigMapName
	}
	if cmName == "" {
		return fmt.Errorf("%s has no ConfigMap yet (status.configMapName is empty): see `kubectl mmelink status %s %s`", what, kind, name)
	}
	var cm corev1.ConfigMap
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: cmName}, &cm); err != nil {
		return fmt.Errorf("reading ConfigMap %s/%s of %s: %w", ns, cmName, what, err)
	}
	if output != "" {
		return writeImage(cmd, &cm, spec, output)
	}
	url := cm.Data[messengerv1.ConfigMapKeyURL]
	if url == "" {
		return fmt.Errorf("ConfigMap %s/%s has no %q key", ns, cmName, messengerv1.ConfigMapKeyURL)
	}
	level, err := qr.ParseLevel(spec.GetErrorCorrection())
	if err != nil {
		return err
	}
	code, err := qr.Encode(url, qr.Options{Size: spec.GetSize(), Level: level, QuietZone: spec.GetQuietZone()})
	if err != nil {
		return fmt.Errorf("encoding the QR code of %s: %w", url, err)
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s%s\n", code.Terminal(), url)
	return err
}

// writeImage writes the ConfigMap's PNG or SVG, by the file's extension.
func writeImage(cmd *cobra.Command, cm *corev1.ConfigMap, spec *messengerv1.QRSpec, path string) error {
	var (
		data   []byte
		format messengerv1.QRFormat
	)
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png":
		format, data = messengerv1.QRFormatPNG, cm.BinaryData[messengerv1.ConfigMapKeyQRPNG]
	case ".svg":
		format, data = messengerv1.QRFormatSVG, []byte(cm.Data[messengerv1.ConfigMapKeyQRSVG])
	default:
		return usagef("--output %s: the file name must end in .png or .svg", path)
	}
	if len(data) == 0 {
		if !spec.Wants(format) {
			return fmt.Errorf("ConfigMap %s holds no %s: spec.qr.formats does not list it", cm.Name, format)
		}
		return fmt.Errorf("ConfigMap %s holds no %s yet", cm.Name, format)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil { //nolint:gosec // G306: a QR image, meant to be shared
		return fmt.Errorf("writing %s: %w", path, err)
	}
	_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s written (%d bytes) from ConfigMap %s\n", path, len(data), cm.Name)
	return err
}
