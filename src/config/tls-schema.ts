import { Type, type Static } from '@sinclair/typebox';
import { Secret, Strict } from './schema-common.ts';

/**
 * TLS of the bridge's device- and gateway-facing listeners (HTTPS intake, MQTTS direct endpoint)
 * and of its connection to an MQTT broker. Hooked into the one schema as `edge.tls`; the local
 * stack's Mosquitto TLS port is `stack.mosquittoTlsPort` (src/stack/config-schema.ts).
 */
const InlineKey = Secret({
  description:
    "Secret: the server's private key as PEM text, instead of keyFile (set it with TP_EDGE__TLS__KEY; a key in a file, such as a mounted Secret, is keyFile, which TP_EDGE__TLS__KEY_FILE sets). '' takes keyFile.",
});

export const EdgeTlsSchema = Type.Object(
  {
    mode: Type.Union([Type.Literal('required'), Type.Literal('plaintext')], {
      default: 'required',
      description:
        "'required': the HTTP intake (with /metrics and the probes) is HTTPS and the direct MQTT endpoint is MQTT over TLS, and a broker-mode mqtt.url must be mqtts://; the bridge refuses to start without certFile and a key. 'plaintext': no TLS anywhere on the bridge, only behind a TLS-terminating proxy or on a private network (`guarantees explain` and the status page say so).",
    }),
    certFile: Type.String({ default: '', description: "PEM certificate (chain) of the bridge's listeners; required with mode 'required'. Re-read at start only." }),
    keyFile: Type.String({ default: '', description: "Path of the PEM private key of certFile (or set key). Keep it readable by the bridge's user only." }),
    key: InlineKey,
    clientCaFile: Type.String({
      default: '',
      description:
        "PEM CA bundle that signs device client certificates (MQTT mutual TLS). A device presenting a certificate it signed is the device CN=<device>, O=<tenant> of its subject and may publish only on <topicPrefix>/<tenant>/<device>; a certificate it did not sign, or an expired one, closes the connection during the handshake. Devices without a certificate still log in with username/password. '' asks for no client certificate.",
    }),
    brokerCaFile: Type.String({
      default: '',
      description: "Broker mode with an mqtts:// mqtt.url: PEM CA bundle that signed the broker's certificate; '' trusts the system's CAs.",
    }),
    minVersion: Type.Union([Type.Literal('TLSv1.2'), Type.Literal('TLSv1.3')], { default: 'TLSv1.2', description: 'Oldest TLS version the listeners accept.' }),
  },
  { ...Strict, default: {} },
);

/** The local Mosquitto's MQTT-over-TLS listener (the plaintext one stays on stack.mosquittoPort). */
export const MosquittoTlsPortSetting = Type.Integer({
  minimum: 1024,
  maximum: 65535,
  default: 8883,
  description: "MQTT-over-TLS port of the local Mosquitto (certificates of the local stack's CA, under stack.dataDir/tls).",
});

export type EdgeTlsConfig = Static<typeof EdgeTlsSchema>;

/** One sentence for `guarantees explain` and the status page: what protects the device- and gateway-facing hops. */
export function transportText(tls: Pick<EdgeTlsConfig, 'mode' | 'clientCaFile'>): string {
  if (tls.mode === 'plaintext') {
    return "Transport: **plaintext** (edge.tls.mode 'plaintext') — the bridge's HTTP intake and MQTT endpoint, and its connection to a broker, are not encrypted: readings, passwords and gateway keys cross the network in the clear unless a TLS-terminating proxy stands in front.";
  }
  return `Transport: **TLS** — HTTPS intake and MQTT over TLS${tls.clientCaFile === '' ? '' : '; devices may log in with a client certificate of edge.tls.clientCaFile (identity CN=<device>, O=<tenant>)'}; a broker-mode mqtt.url must be mqtts://.`;
}
