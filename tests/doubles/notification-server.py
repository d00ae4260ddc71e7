#!/usr/bin/python3
"""A headless org.freedesktop.Notifications server for tests.

Owns the name on the session bus and appends every Notify and
CloseNotification call to a file as one JSON line, so tests can assert on
exactly what notify-rust sent. Usage: notification-server.py RECORD_FILE
"""
import json
import sys

import dbus
import dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"


class Server(dbus.service.Object):
    def __init__(self, bus, record):
        self.record = record
        self.next_id = 1
        super().__init__(bus, PATH)

    def write(self, entry):
        with open(self.record, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")

    @dbus.service.method(NAME, in_signature="susssasa{sv}i", out_signature="u")
    def Notify(self, app_name, replaces_id, app_icon, summary, body, actions, hints, timeout):
        nid = int(replaces_id) if replaces_id else self.next_id
        if not replaces_id:
            self.next_id += 1
        self.write({"call": "Notify", "id": nid, "replaces_id": int(replaces_id),
                    "app_name": str(app_name), "summary": str(summary), "body": str(body)})
        return dbus.UInt32(nid)

    @dbus.service.method(NAME, in_signature="u", out_signature="")
    def CloseNotification(self, nid):
        self.write({"call": "CloseNotification", "id": int(nid)})
        self.NotificationClosed(nid, dbus.UInt32(3))

    @dbus.service.signal(NAME, signature="uu")
    def NotificationClosed(self, nid, reason):
        pass

    @dbus.service.method(NAME, in_signature="", out_signature="as")
    def GetCapabilities(self):
        return ["body"]

    @dbus.service.method(NAME, in_signature="", out_signature="ssss")
    def GetServerInformation(self):
        return ("builderbar-test-recorder", "builderbar", "1", "1.2")


def main():
    DBusGMainLoop(set_as_default=True)
    bus = dbus.SessionBus()
    server = Server(bus, sys.argv[1])
    name = dbus.service.BusName(NAME, bus, do_not_queue=True)
    loop = GLib.MainLoop()
    try:
        loop.run()
    finally:
        del name, server


if __name__ == "__main__":
    main()
