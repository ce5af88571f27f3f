"""The terminals' full-screen apps (Textual): the driver's validator, the inspector's handheld,
and the common ground they and the kiosk's app build on.

Textual is imported only inside this package, and nothing outside it imports the package: the
headless commands (``ekarta terminal sync``, ``ekarta validator --once``) and the tap engine
never load a UI toolkit.  This module imports nothing, so that a command can import one app's
module lazily, when the app is asked for.

- :mod:`~ekarta.terminal.apps.base`: the app every terminal runs (full screen, Czech by default
  with English a key or a click away, no accidental quit, a screen that clears itself, the card
  loop and the background sync);
- :mod:`~ekarta.terminal.apps.widgets`: the status line, the big verdict, the entry line;
- :mod:`~ekarta.terminal.apps.bigtext`: the block letters of the verdict (no UI toolkit);
- :mod:`~ekarta.terminal.apps.keys`: the service key sequence (no UI toolkit);
- :mod:`~ekarta.terminal.apps.view`: the screens' contents as plain values, and the frame's
  texts (no UI toolkit);
- :mod:`~ekarta.terminal.apps.loops`: the reader loop and the background sync, run in thread
  workers (no UI toolkit: they report through callbacks the app turns into messages);
- :mod:`~ekarta.terminal.apps.checking`: the app of a terminal that checks cards (a number
  typed or scanned, the zone and the line, the status line);
- :mod:`~ekarta.terminal.apps.checking_view`: what such a terminal says around an outcome (no
  UI toolkit);
- :mod:`~ekarta.terminal.apps.validator_view`: what the validator's screen says for an outcome
  (no UI toolkit);
- :mod:`~ekarta.terminal.apps.validator`: the driver's validator;
- :mod:`~ekarta.terminal.apps.inspector_view`: what the inspector's screens say: a check, the
  writing's progress, the outcome recorded, the shift's summary (no UI toolkit);
- :mod:`~ekarta.terminal.apps.inspector_screens`: the inspector's outcome form and shift summary;
- :mod:`~ekarta.terminal.apps.inspector`: the inspector's handheld.
"""
