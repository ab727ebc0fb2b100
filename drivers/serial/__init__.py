"""trunkline.drivers.serial: serial-attached devices (GSM modem for SMS, AT commands in PDU mode)."""
