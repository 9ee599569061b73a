// tahu_nodes.js - Sparkplug B edge nodes made with the Eclipse Tahu JavaScript client
// (npm sparkplug-client), driven by tests/test_sparkplug.py through stdin, one JSON command a
// line:
//   {"cmd":"start","c":0,"url":"tcp://127.0.0.1:1883","group":"G","node":"gw6",
//    "devices":["press-01"],"aliases":false}      a node; births once connected
//   {"cmd":"data","c":0,"dev":"press-01","state":1,"total":20}   DDATA (by name or alias)
//   {"cmd":"hist","c":0,"dev":"press-01","points":[[3,2000],[1,1000]]}   one DDATA carrying
//                                               historical (is_historical) states, each
//                                               stamped that many ms before now
//   {"cmd":"kill","c":0}                        the TCP connection dies: the broker sends the
//                                               node's will (NDEATH), no reconnect
// It prints one JSON event a line: {"c":0,"ev":"birth"} after each NBIRTH+DBIRTHs (also those
// a rebirth request caused: "ev":"rebirth" first), {"c":0,"ev":"sent"} after a command.
"use strict";
const path = require("path");
const readline = require("readline");
const sparkplug = require(path.join(process.env.TAHU_MODULES, "sparkplug-client"));

const nodes = [];
const print = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const STATE = "Machine/State", TOTAL = "Counts/Total";

function births(n) {
  const now = Date.now();
  n.client.publishNodeBirth({
    timestamp: now,
    metrics: [{ name: "Node Control/Rebirth", type: "Boolean", value: false }],
  });
  n.devices.forEach((d) => {
    const st = n.last[d] || { state: 1, total: 0 };
    n.client.publishDeviceBirth(d, {
      timestamp: now,
      metrics: [
        { name: STATE, alias: 1, type: "Int32", value: st.state, timestamp: now },
        { name: TOTAL, alias: 2, type: "UInt64", value: st.total, timestamp: now },
      ],
    });
  });
  print({ c: n.c, ev: "birth" });
}

function start(o) {
  const client = sparkplug.newClient({
    serverUrl: o.url, username: "", password: "", groupId: o.group, edgeNode: o.node,
    clientId: `tahu-${o.group}-${o.node}-${process.pid}`, version: "spBv1.0",
  });
  const n = { c: o.c, client, devices: o.devices, aliases: !!o.aliases, last: {} };
  nodes[o.c] = n;
  client.on("birth", () => births(n));
  client.on("ncmd", (p) => {
    const rebirth = (p.metrics || []).some((m) => m.name === "Node Control/Rebirth" && m.value);
    if (rebirth) {
      print({ c: n.c, ev: "rebirth" });
      births(n);
    }
  });
}

function data(o) {
  const n = nodes[o.c];
  const now = Date.now();
  n.last[o.dev] = { state: o.state, total: o.total };
  const m = (name, alias, type, value) =>
    n.aliases ? { alias, type, value, timestamp: now } : { name, type, value, timestamp: now };
  n.client.publishDeviceData(o.dev, {
    timestamp: now,
    metrics: [m(STATE, 1, "Int32", o.state), m(TOTAL, 2, "UInt64", o.total)],
  });
}

function hist(o) {
  const n = nodes[o.c];
  const now = Date.now();
  n.client.publishDeviceData(o.dev, {
    timestamp: now,
    metrics: o.points.map(([state, ago]) => ({
      name: STATE, type: "Int32", value: state, timestamp: now - ago, isHistorical: true,
    })),
  });
}

function kill(o) {
  const mq = nodes[o.c].client.client; // the mqtt.js client inside Tahu's
  mq.options.reconnectPeriod = 0;
  mq.stream.destroy(); // no DISCONNECT: the broker publishes the will
}

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const o = JSON.parse(line);
  ({ start, data, hist, kill })[o.cmd](o);
  print({ c: o.c, ev: "sent", cmd: o.cmd });
});
