"""What a device session will do, decided once before anything is sent to the device."""
