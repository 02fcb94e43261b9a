//! The built-in HelpCrunch emulator. To be written.
