"""The terminals' full-screen apps (Textual): the driver's validator, and the common ground the
inspector's and the kiosk's apps build on.

Textual is imported only inside this package, and nothing outside it imports the package: the
headless commands (``ekarta terminal sync``, ``ekarta validator --once``) and the tap engine
never load a UI toolkit.  This module imports nothing, so that a command can import one app's
module lazily, when the app is asked for.

- :mod:`~ekarta.terminal.apps.base`: the app every terminal runs (full screen, Czech by default
  with English a key or a click away, no accidental quit, a screen that clears itself);
- :mod:`~ekarta.terminal.apps.widgets`: the status line, the big verdict, the entry line;
- :mod:`~ekarta.terminal.apps.bigtext`: the block letters of the verdict (no UI toolkit);
- :mod:`~ekarta.terminal.apps.keys`: the service key sequence (no UI toolkit);
- :mod:`~ekarta.terminal.apps.view`: the screens' contents as plain values, and the frame's
  texts (no UI toolkit);
- :mod:`~ekarta.terminal.apps.loops`: the reader loop and the background sync, run in thread
  workers (no UI toolkit: they report through callbacks the app turns into messages);
- :mod:`~ekarta.terminal.apps.validator_view`: what the validator's screen says for an outcome
  (no UI toolkit);
- :mod:`~ekarta.terminal.apps.validator`: the driver's validator.
"""
